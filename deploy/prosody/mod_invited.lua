-- mod_invited: invited is the invite authority of this host (see docs/prosody.md in invited's repository).
--
-- Load it next to the stock mod_invites, mod_invites_register and mod_register_ibr (which stay loaded, unpatched):
--
--   plugin_paths = { "/path/to/invited/deploy/prosody" }
--   modules_enabled = { ...; "invites"; "invites_register"; "register_ibr"; "invited" }
--   invited_url = "http://127.0.0.1:5380"                    -- invited's base URL
--   VirtualHost "example.com"
--     invited_key_file = "/etc/prosody/invited-example.com.key" -- an invite:xmpp key of this host, one line
--
-- The module asks, invited decides:
--   preauth (urn:xmpp:pars:0)  -> POST /api/v1/xmpp/check    read-only; a token invited does not know goes on to
--                                                              Prosody's own store (mod_invites_register)
--   user-registering           -> POST /api/v1/xmpp/reserve  one use held for the name as Prosody normalised it
--   user-registered / -reset   -> POST /api/v1/xmpp/commit   queued in Prosody's storage, retried until confirmed
--   registration failed/closed -> POST /api/v1/xmpp/release
--   start and every few min    -> POST /api/v1/xmpp/report   so invited offers the app button only while we run
--
-- Every call carries the client's address as Prosody saw it; invited uses it for its throttle and audit log.

local async = require "util.async";
local http = require "net.http";
local json = require "util.json";
local st = require "util.stanza";
local usermanager = require "core.usermanager";

local MODULE_VERSION = "1";

local invited_url = module:get_option_string("invited_url");
local key_file = module:get_option_path("invited_key_file");
local timeout = module:get_option_number("invited_timeout", 5); -- seconds per HTTP call
local retry_interval = module:get_option_number("invited_retry_interval", 30); -- seconds between commit retries
local report_interval = module:get_option_number("invited_report_interval", 300); -- seconds between reports

if not invited_url then error("mod_invited: set invited_url (invited's base URL, e.g. \"http://127.0.0.1:5380\")"); end
if not key_file then error("mod_invited: set invited_key_file for "..module.host.." (a file holding an invite:xmpp key)"); end
invited_url = invited_url:gsub("/+$", "");

local function read_key()
	local f, err = io.open(key_file);
	if not f then error("mod_invited: cannot read invited_key_file: "..tostring(err)); end
	local key = (f:read("*l") or ""):match("^%s*(%S+)%s*$");
	f:close();
	if not key then error("mod_invited: invited_key_file "..key_file.." is empty"); end
	return key;
end
local key = read_key();

-- Prosody's own invite store, to tell an unknown token from one of Prosody's.
local invites = module:depends("invites");

-- Commits that invited has not confirmed yet, keyed by reservation id. They survive a restart of Prosody.
local commit_queue = module:open_store("invited_commits");
local roles_store = module:open_store("roles");

--- HTTP ---------------------------------------------------------------------------------------------------------

-- POSTs a JSON body to invited and calls back(code, answer) once: code 0 means no answer (unreachable, timeout).
-- net.http in 0.12 has no timeout option, so a timer cancels the request.
local function request(path, payload, callback)
	local finished = false;
	local function finish(code, answer)
		if finished then return; end
		finished = true;
		callback(code, answer);
	end
	local req = http.request(invited_url..path, {
		method = "POST";
		body = json.encode(payload);
		headers = {
			["Authorization"] = "Bearer "..key;
			["Content-Type"] = "application/json";
			["Accept"] = "application/json";
		};
	}, function (body, code)
		if type(code) ~= "number" or code < 100 then
			module:log("warn", "invited is unreachable (%s %s): %s", "POST", path, tostring(body));
			return finish(0, nil);
		end
		finish(code, type(body) == "string" and json.decode(body) or nil);
	end);
	module:add_timer(timeout, function ()
		if finished then return; end
		module:log("warn", "invited did not answer %s within %ds", path, timeout);
		if req then http.destroy_request(req); end
		finish(0, nil);
	end);
end

-- The same, waited for inside the session's async runner (stanza handlers and the events they fire run there).
local function call(path, payload)
	local wait, done = async.waiter();
	local code, answer;
	request(path, payload, function (c, a) code, answer = c, a; done(); end);
	wait();
	return code, answer;
end

local function error_code(answer)
	return type(answer) == "table" and type(answer.error) == "table" and answer.error.code or nil;
end

--- Preauth --------------------------------------------------------------------------------------------------------

local preauth_refusals = {
	invite_expired = "The invite has expired";
	invite_used = "The invite has been used up";
	invite_revoked = "The invite was revoked";
};
local try_later = "The invite service is not reachable right now, try again later";

-- Ahead of mod_invites_register (priority 0): invited's tokens are answered here, any other goes on to Prosody's store.
module:hook("stanza/iq/urn:xmpp:pars:0:preauth", function (event)
	local session, stanza = event.origin, event.stanza;
	local token = stanza.tags[1].attr.token;
	-- A new preauth replaces an earlier one, also when Prosody's store then refuses it: drop ours first, or the
	-- stream could register on it without invited being asked.
	if session.invited then session.invited, session.validated_invite = nil, nil; end
	if not token or token == "" then return; end
	if not async.ready() then
		session.send(st.error_reply(stanza, "wait", "internal-server-error", try_later));
		return true;
	end
	local code, answer = call("/api/v1/xmpp/check", { token = token; ip = session.ip });
	if code == 404 then
		-- Not one of invited's. If it is one of Prosody's own, mod_invites_register takes it from here.
		local prosody_invite, err = invites.get(token);
		if prosody_invite then return; end
		local text = err == "token-expired" and "The invite has expired" or "The invite token is unknown";
		session.send(st.error_reply(stanza, "cancel", "forbidden", text));
		return true;
	end
	if code == 200 and type(answer) == "table" then
		session.invited = { token = token; invite = answer };
		-- What mod_invites_register looks for. invited counts the use (commit below), so use() does nothing here.
		session.validated_invite = {
			token = token; type = "register"; reusable = true;
			additional_data = { allow_reset = answer.kind == "reset" and answer.username or nil };
			use = function () return true; end;
		};
		session.send(st.reply(stanza));
		return true;
	end
	local reason = preauth_refusals[error_code(answer)];
	if reason then
		session.send(st.error_reply(stanza, "cancel", "forbidden", reason));
	else
		if code ~= 0 then module:log("warn", "invited answered check with %s %s", tostring(code), tostring(error_code(answer))); end
		session.send(st.error_reply(stanza, "wait", "internal-server-error", try_later));
	end
	return true;
end, 10);

--- Registration ---------------------------------------------------------------------------------------------------

local function release(reservation, ip)
	request("/api/v1/xmpp/release", { reservation = reservation; ip = ip }, function (code)
		if code ~= 200 then
			module:log("warn", "invited did not take back the use held for %s (it is released when it expires)", reservation.username);
		end
	end);
end

-- What invited refused at user-registering, as a stanza error.
local reserve_refusals = {
	username_taken = { "cancel", "conflict", "The requested username already exists." };
	username_mismatch = { "modify", "not-acceptable", "This invite is for another username" };
	invalid_username = { "modify", "not-acceptable", nil }; -- invited's message names the problem
	account_missing = { "cancel", "item-not-found", "There is no account of this name to reset" };
	invite_expired = { "cancel", "forbidden", "The invite has expired" };
	invite_used = { "cancel", "forbidden", "The invite has been used up" };
	invite_revoked = { "cancel", "forbidden", "The invite was revoked" };
	invite_not_found = { "cancel", "forbidden", "The invite token is unknown" };
	invite_busy = { "wait", "resource-constraint", "The invite is being used right now, try again later" };
	too_many_registrations = { "wait", "policy-violation", "Too many registrations from your address, try again later" };
};

local function refuse(event, error_type, condition, text)
	event.allowed = false;
	event.error = { type = error_type; condition = condition; text = text };
	-- COMPAT pre-util.error, as mod_register_limits does
	event.error_type, event.error_condition, event.reason = error_type, condition, text;
end

-- At a low priority, so that every other module's refusal comes first (and then nothing is reserved).
module:hook("user-registering", function (event)
	local session = event.session;
	local state = session and session.invited;
	if not state or event.allowed == false then return; end
	if not async.ready() then return refuse(event, "wait", "internal-server-error", try_later); end
	local ip = event.ip or session.ip;
	local code, answer = call("/api/v1/xmpp/reserve", {
		token = state.token;
		username = event.username;
		exists = usermanager.user_exists(event.username, module.host) and true or false;
		ip = ip;
	});
	if code ~= 200 or type(answer) ~= "table" or type(answer.reservation) ~= "table" then
		local refusal = reserve_refusals[error_code(answer)];
		if refusal then
			local text = refusal[3] or (type(answer.error.message) == "string" and answer.error.message) or "This username is not allowed";
			return refuse(event, refusal[1], refusal[2], text);
		end
		if code ~= 0 then module:log("warn", "invited answered reserve with %s %s", tostring(code), tostring(error_code(answer))); end
		return refuse(event, "wait", "internal-server-error", try_later);
	end
	-- One preauth, one registration: a second one on this stream finds no invite (mod_invites_register refuses it).
	local validated_invite = session.validated_invite;
	session.invited, session.validated_invite = nil, nil;
	local pending = { reservation = answer.reservation; roles = answer.roles; ip = ip };
	session.invited_pending = pending;
	if answer.kind == "reset" then event.allow_reset = event.username; end
	-- The register IQ handler runs on, synchronously, to user-registered or user-password-reset (which clear
	-- invited_pending) or to an error reply. Still pending on the next tick means it failed: give the use back, and
	-- the invite to the stream, so the person may try another name.
	module:add_timer(0, function ()
		if session.invited_pending ~= pending then return; end
		session.invited_pending = nil;
		release(pending.reservation, ip);
		if not session.destroyed then session.invited, session.validated_invite = state, validated_invite; end
	end);
end, -100);

--- Commit: durable, retried until invited confirms ----------------------------------------------------------------

local flushing = {};

local function drop(id)
	local queue = commit_queue:get(nil) or {};
	queue[id] = nil;
	local ok, err = commit_queue:set(nil, next(queue) and queue or nil);
	if not ok then module:log("error", "could not update the invited commit queue: %s", tostring(err)); end
end

-- Sends every queued commit that is not already on its way.
local function flush()
	for id, entry in pairs(commit_queue:get(nil) or {}) do
		if not flushing[id] then
			flushing[id] = true;
			request("/api/v1/xmpp/commit", { reservation = entry.reservation; ip = entry.ip }, function (code, answer)
				flushing[id] = nil;
				if code == 200 then return drop(id); end
				local permanent = code == 400 or code == 404 or code == 422;
				if permanent then
					-- invited will never take this one (its invite is gone from invited's database, say).
					module:log("error", "invited refused the record of %s (%s); dropping it", entry.reservation.username, tostring(error_code(answer) or code));
					return drop(id);
				end
				module:log("warn", "invited has not recorded %s yet (%s); retrying every %ds", entry.reservation.username, code == 0 and "unreachable" or tostring(code), retry_interval);
			end);
		end
	end
end

local function committed(event)
	local session = event.session;
	local pending = session and session.invited_pending;
	if not pending or pending.reservation.username ~= event.username then return; end
	session.invited_pending = nil;
	if pending.reservation.kind == "account" then
		-- Roles invited allows for this host (never prosody:admin), in the map form Prosody's roles store expects.
		local roles = {};
		for _, role in ipairs(pending.roles or {}) do
			if role ~= "prosody:admin" then roles[role] = true; end
		end
		if next(roles) then roles_store:set(event.username, roles); end
	end
	local queue = commit_queue:get(nil) or {};
	local id = tostring(pending.reservation.id);
	queue[id] = { reservation = pending.reservation; ip = pending.ip; queued_at = os.time() };
	local ok, err = commit_queue:set(nil, queue);
	if not ok then module:log("error", "could not queue the invited commit for %s: %s", event.username, tostring(err)); end
	flush();
	-- No return value: mod_invites_register and others must see this event too.
end

-- Ahead of other handlers, so invited_pending is cleared before anything else can yield.
module:hook("user-registered", function (event) committed(event); end, 100);
module:hook("user-password-reset", function (event) committed(event); end, 100);

-- A stream that closes with a use still held (normally the next-tick check above has released it already).
module:hook_global("c2s-closed", function (event)
	local session = event.session;
	local pending = session and session.host == module.host and session.invited_pending;
	if not pending then return; end
	session.invited_pending = nil;
	release(pending.reservation, pending.ip);
end);

--- Reports and retries (only in the server, not in prosodyctl) -----------------------------------------------------

if prosody.process_type == "prosody" then
	local function report()
		request("/api/v1/xmpp/report", { prosody_version = prosody.version; module_version = MODULE_VERSION }, function (code)
			if code ~= 200 then module:log("warn", "invited did not take this host's report (%s)", code == 0 and "unreachable" or tostring(code)); end
		end);
	end
	module:add_timer(0, function () report(); return report_interval; end);
	module:add_timer(1, function () flush(); return retry_interval; end);
end
