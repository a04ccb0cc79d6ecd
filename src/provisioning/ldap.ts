import { connect as netConnect, isIP } from "node:net";
import { BerWriter, Change, Attribute, Client, EqualityFilter, ResultCodeError, AlreadyExistsError, NoSuchObjectError, NoSuchAttributeError, TypeOrValueExistsError, InvalidCredentialsError } from "ldapts";
import type { LdapConfig, ProvisionConfig } from "../config/index.ts";
import type { AccountTarget, LifecycleOutcome, Provider, ProvisionFailure, ProvisionOutcome, ProvisionRequest } from "./types.ts";

/** RFC 3062 Password Modify extended operation. */
const PASSWORD_MODIFY_OID = "1.3.6.1.4.1.4203.1.11.1";

/** Debian's slapd socket, for a bare ldapi:///. */
const DEFAULT_LDAPI_SOCKET = "/run/slapd/ldapi";

export type PasswordCheck = { result: "ok" } | { result: "wrong" } | ProvisionFailure;

class Timeout extends Error {}

/**
 * Accounts as entries in an LDAP directory, through ldapts. An account is `{rdn_attribute}={username},{base_dn}`
 * with the configured object classes and attribute map; its password is set with the Password Modify extended
 * operation (RFC 3062), so the directory hashes it with its own scheme and invited never sees a hash. An entry with
 * that name anywhere under base_dn means the name is taken. Groups are entries under group_base_dn that get the
 * user as a member (the directory's memberof overlay, if any, then shows memberOf on the user). A step that fails
 * after the entry was added removes it again, so a failed registration leaves nothing behind. Disable sets
 * disable_attribute (pwdAccountLockedTime with OpenLDAP's ppolicy), enable removes it; delete removes the user from
 * its groups and deletes the entry. verifyPassword binds as the user.
 */
export class LdapProvider implements Provider {
  readonly type = "ldap" as const;
  private readonly ldap: LdapConfig;
  constructor(private readonly cfg: ProvisionConfig) {
    this.ldap = cfg.ldap!;
  }

  userDn(username: string): string {
    return `${this.ldap.rdnAttribute}=${escapeRdnValue(username)},${this.ldap.baseDn}`;
  }

  private groupDn(group: string): string {
    return `${this.ldap.groupRdnAttribute}=${escapeRdnValue(group)},${this.ldap.groupBaseDn}`;
  }

  private memberValue(username: string): string {
    return this.ldap.groupMemberAttribute.toLowerCase() === "memberuid" ? username : this.userDn(username);
  }

  provision(req: ProvisionRequest): Promise<ProvisionOutcome> {
    return this.session("create", req.username, async (client) => {
      const dn = this.userDn(req.username);
      if (req.kind === "reset") {
        await passwordModify(client, dn, req.password);
        return { result: "created" };
      }
      const existing = await client.search(this.ldap.baseDn, { scope: "sub", filter: new EqualityFilter({ attribute: this.ldap.rdnAttribute, value: req.username }), attributes: ["1.1"], sizeLimit: 1 });
      if (existing.searchEntries.length > 0) return { result: "taken" };
      try {
        await client.add(dn, this.entry(req));
      } catch (e) {
        if (e instanceof AlreadyExistsError) return { result: "taken" };
        throw e;
      }
      const joined: string[] = [];
      try {
        await passwordModify(client, dn, req.password);
        if (this.ldap.groupBaseDn !== null) {
          for (const group of req.groups) {
            await this.join(client, group, req.username);
            joined.push(group);
          }
        }
      } catch (e) {
        // Leave nothing half-made behind: the registration failed, so the account must not exist.
        for (const group of joined) await this.leave(client, this.groupDn(group), req.username).catch(() => {});
        await client.del(dn).catch(() => {});
        throw e;
      }
      return { result: "created" };
    });
  }

  disable(t: AccountTarget): Promise<LifecycleOutcome> {
    const attr = this.ldap.disableAttribute;
    if (attr === null) return Promise.resolve({ result: "failed", reason: "not_supported", detail: "the ldap provider cannot disable accounts: set disable_attribute (e.g. pwdAccountLockedTime with OpenLDAP's ppolicy overlay)" });
    return this.session("disable", t.username, async (client) => {
      await client.modify(this.userDn(t.username), new Change({ operation: "replace", modification: new Attribute({ type: attr, values: [this.ldap.disableValue] }) }));
      return { result: "done" };
    });
  }

  enable(t: AccountTarget): Promise<LifecycleOutcome> {
    const attr = this.ldap.disableAttribute;
    if (attr === null) return Promise.resolve({ result: "failed", reason: "not_supported", detail: "the ldap provider cannot enable accounts: set disable_attribute" });
    return this.session("enable", t.username, async (client) => {
      try {
        await client.modify(this.userDn(t.username), new Change({ operation: "delete", modification: new Attribute({ type: attr, values: [] }) }));
      } catch (e) {
        if (!(e instanceof NoSuchAttributeError)) throw e; // not disabled: nothing to do
      }
      return { result: "done" };
    });
  }

  delete(t: AccountTarget): Promise<LifecycleOutcome> {
    return this.session("delete", t.username, async (client) => {
      const dn = this.userDn(t.username);
      if (this.ldap.groupBaseDn !== null) {
        const groups = await client.search(this.ldap.groupBaseDn, { scope: "sub", filter: new EqualityFilter({ attribute: this.ldap.groupMemberAttribute, value: this.memberValue(t.username) }), attributes: ["1.1"] });
        for (const g of groups.searchEntries) await this.leave(client, g.dn, t.username);
      }
      try {
        await client.del(dn);
      } catch (e) {
        if (!(e instanceof NoSuchObjectError)) throw e; // already gone downstream
      }
      return { result: "done" };
    });
  }

  /**
   * Sign-in for the user pages: a simple bind as the user's own entry. An empty password is refused before any
   * request (an LDAP bind with one is an anonymous bind, which succeeds).
   */
  async verifyPassword(username: string, password: string): Promise<PasswordCheck> {
    if (password === "") return { result: "wrong" };
    const client = this.client();
    try {
      return await this.withTimeout("sign-in", username, async () => {
        await this.secure(client);
        try {
          await client.bind(this.userDn(username), password);
        } catch (e) {
          if (e instanceof InvalidCredentialsError) return { result: "wrong" } as const;
          throw e;
        }
        return { result: "ok" } as const;
      });
    } catch (e) {
      return this.failure("sign-in", username, e);
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  private entry(req: ProvisionRequest): Record<string, string[]> {
    const values: Record<string, string> = { username: req.username, host: req.host, email: req.email ?? "" };
    const entry: Record<string, string[]> = { objectClass: this.ldap.objectClasses };
    for (const [attr, template] of Object.entries(this.ldap.attributes)) {
      if (template.includes("{email}") && !req.email) continue;
      entry[attr] = [template.replace(/\{(username|host|email)\}/g, (_, k: string) => values[k]!)];
    }
    return entry;
  }

  private async join(client: Client, group: string, username: string): Promise<void> {
    const dn = this.groupDn(group);
    const member = this.memberValue(username);
    try {
      await client.modify(dn, new Change({ operation: "add", modification: new Attribute({ type: this.ldap.groupMemberAttribute, values: [member] }) }));
    } catch (e) {
      if (e instanceof TypeOrValueExistsError) return;
      if (!(e instanceof NoSuchObjectError)) throw e;
      // A group invited has not seen before: made with this user as its first member (groupOfNames needs one).
      await client.add(dn, { objectClass: this.ldap.groupObjectClasses, [this.ldap.groupRdnAttribute]: [group], [this.ldap.groupMemberAttribute]: [member] });
    }
  }

  private async leave(client: Client, groupDn: string, username: string): Promise<void> {
    try {
      await client.modify(groupDn, new Change({ operation: "delete", modification: new Attribute({ type: this.ldap.groupMemberAttribute, values: [this.memberValue(username)] }) }));
    } catch (e) {
      if (e instanceof NoSuchAttributeError || e instanceof NoSuchObjectError) return;
      throw e;
    }
  }

  private client(): Client {
    const u = new URL(this.ldap.url);
    const tlsOptions = { ca: this.ldap.ca ?? undefined, minVersion: "TLSv1.2" as const };
    if (u.protocol === "ldapi:") {
      const socket = u.hostname ? decodeURIComponent(u.hostname) : DEFAULT_LDAPI_SOCKET;
      return new Client({ url: "ldap://localhost", timeout: this.cfg.timeout, connectTimeout: this.cfg.timeout, createConnection: (() => netConnect(socket)) as unknown as typeof netConnect });
    }
    // ldapts speaks TLS from the first byte whenever tlsOptions are given: only for ldaps://.
    return new Client({ url: `${u.protocol}//${u.host}`, timeout: this.cfg.timeout, connectTimeout: this.cfg.timeout, ...(u.protocol === "ldaps:" ? { tlsOptions } : {}) });
  }

  private async secure(client: Client): Promise<void> {
    if (!this.ldap.startTls) return;
    const host = new URL(this.ldap.url).hostname.replace(/^\[|\]$/g, "");
    // SNI takes names only; an address is still checked against the certificate's IP subjectAltName.
    await client.startTLS({ ca: this.ldap.ca ?? undefined, minVersion: "TLSv1.2", ...(isIP(host) ? {} : { servername: host }) });
  }

  /** Connects, secures and binds as the service account, runs `work`, and always unbinds. Never throws. */
  private async session<T extends ProvisionOutcome | LifecycleOutcome>(op: string, username: string, work: (client: Client) => Promise<T>): Promise<T | ProvisionFailure> {
    const client = this.client();
    try {
      return await this.withTimeout(op, username, async () => {
        await this.secure(client);
        await client.bind(this.ldap.bindDn, this.ldap.bindPassword);
        return await work(client);
      });
    } catch (e) {
      return this.failure(op, username, e);
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  private async withTimeout<T>(op: string, username: string, work: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout(`${op} of ${username}`)), this.cfg.timeout);
    });
    try {
      return await Promise.race([work(), limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  private failure(op: string, username: string, e: unknown): ProvisionFailure {
    const where = `LDAP ${op} of ${username} at ${redactUrl(this.ldap.url)}`;
    if (e instanceof Timeout) return { result: "failed", reason: "timeout", detail: `${where}: no answer within ${this.cfg.timeout} ms` };
    if (e instanceof ResultCodeError) return { result: "failed", reason: `ldap_${e.code}`, detail: `${where}: ${oneLine(e.message)}` };
    const code = (e as NodeJS.ErrnoException)?.code;
    return { result: "failed", reason: "network_error", detail: `${where}: ${oneLine(code ? `${code} ${(e as Error).message}` : String((e as Error)?.message ?? e))}` };
  }
}

/** The Password Modify request value: SEQUENCE { userIdentity [0] dn, newPasswd [2] password }. */
async function passwordModify(client: Client, dn: string, password: string): Promise<void> {
  const w = new BerWriter();
  w.startSequence();
  w.writeString(dn, 0x80);
  w.writeString(password, 0x82);
  w.endSequence();
  await client.exop(PASSWORD_MODIFY_OID, w.buffer);
}

/** RFC 4514 escaping of an attribute value inside a DN. */
export function escapeRdnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, "\\ ")
    .replace(/\0/g, "\\00");
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, " ").trim().slice(0, 300);
}
