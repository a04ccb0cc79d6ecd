// A small raw-socket XMPP client that does what an app does with an invite link xmpp:HOST?register;preauth=TOKEN:
// open a c2s stream (unencrypted, loopback only), send the XEP-0401/XEP-0445 preauth IQ (urn:xmpp:pars:0), then
// register in-band (XEP-0077, jabber:iq:register). @xmpp/client has no IBR, so the few stanzas are written here;
// the SCRAM login afterwards uses @xmpp/client (xmppLogin in provision-helpers.ts).
import type { Socket } from "bun";

export interface IqAnswer {
  type: "result" | "error" | "timeout" | "closed";
  /** The error's type attribute: cancel, modify, wait, auth. */
  errorType?: string;
  /** The defined condition: forbidden, conflict, not-acceptable, ... */
  condition?: string;
  text?: string;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");
}
function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
}

function parseIq(xml: string): IqAnswer {
  const type = /^<iq\b[^>]*\btype=['"](\w+)['"]/.exec(xml)?.[1];
  if (type !== "error") return { type: "result" };
  const error = /<error\b[^>]*\btype=['"](\w+)['"][^>]*>([\s\S]*?)<\/error>/.exec(xml);
  const body = error?.[2] ?? "";
  const condition = /<([a-z-]+)\b[^>]*xmlns=['"]urn:ietf:params:xml:ns:xmpp-stanzas['"]/.exec(body.replace(/<text\b[\s\S]*?<\/text>/, ""))?.[1];
  const text = /<text\b[^>]*>([\s\S]*?)<\/text>/.exec(body)?.[1];
  return { type: "error", errorType: error?.[1], condition, text: text === undefined ? undefined : unescapeXml(text) };
}

export class XmppRegistrant {
  private buffer = "";
  private closed = false;
  private waiters: (() => void)[] = [];
  private nextId = 1;

  private constructor(private readonly socket: Socket<undefined>) {}

  /** Connects and opens the stream; resolves once the server's stream features have arrived. */
  static async connect(port: number, domain: string, address = "127.0.0.1"): Promise<XmppRegistrant> {
    let self: XmppRegistrant | null = null;
    const pending: string[] = [];
    const socket = await Bun.connect({
      hostname: address,
      port,
      socket: {
        data(_s, data) {
          const text = new TextDecoder().decode(data);
          if (self) self.feed(text);
          else pending.push(text);
        },
        close() {
          if (self) self.onClose();
        },
        error() {
          if (self) self.onClose();
        },
      },
    });
    self = new XmppRegistrant(socket);
    for (const t of pending) self.feed(t);
    socket.write(`<?xml version='1.0'?><stream:stream to='${escapeXml(domain)}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`);
    await self.waitFor(() => self!.buffer.includes("</stream:features>"), 10_000);
    return self;
  }

  private feed(text: string): void {
    this.buffer += text;
    for (const w of this.waiters.splice(0)) w();
  }
  private onClose(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
  }
  private async waitFor(done: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (this.closed || Date.now() > deadline) return done();
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), Bun.sleep(Math.max(1, Math.min(200, deadline - Date.now())))]);
    }
    return true;
  }

  /** Whether the server advertised a stream feature with this namespace (e.g. urn:xmpp:ibr-token:0). */
  hasFeature(xmlns: string): boolean {
    const features = /<stream:features>([\s\S]*?)<\/stream:features>/.exec(this.buffer)?.[1] ?? "";
    return features.includes(`xmlns='${xmlns}'`) || features.includes(`xmlns="${xmlns}"`);
  }

  /** Sends an IQ of type set with this child and waits for the answer with the same id. */
  async iq(child: string, ms = 20_000): Promise<IqAnswer> {
    const id = `q${this.nextId++}`;
    if (this.closed) return { type: "closed" };
    this.socket.write(`<iq type='set' id='${id}'>${child}</iq>`);
    const re = new RegExp(`<iq\\b[^>]*\\bid=['"]${id}['"][^>]*?(?:/>|>[\\s\\S]*?</iq>)`);
    const found = await this.waitFor(() => re.test(this.buffer), ms);
    if (!found) return { type: this.closed ? "closed" : "timeout" };
    const m = re.exec(this.buffer)!;
    this.buffer = this.buffer.slice(0, m.index) + this.buffer.slice(m.index + m[0].length);
    return parseIq(m[0]);
  }

  /** XEP-0401 / XEP-0445: hand the server the invite token. */
  preauth(token: string): Promise<IqAnswer> {
    return this.iq(`<preauth xmlns='urn:xmpp:pars:0' token='${escapeXml(token)}'/>`);
  }

  /** XEP-0077 in-band registration with the legacy fields (what Conversations and most apps send). */
  register(username: string, password: string): Promise<IqAnswer> {
    return this.iq(`<query xmlns='jabber:iq:register'><username>${escapeXml(username)}</username><password>${escapeXml(password)}</password></query>`);
  }

  /** Drops the TCP connection without closing the stream, as a phone losing its network does. */
  drop(): void {
    this.socket.terminate();
    this.closed = true;
  }

  /** Closes the stream politely and waits for the server to close its side. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.socket.write("</stream:stream>");
      await this.waitFor(() => this.closed, 3000);
    }
    this.socket.end();
  }
}

/** One app sign-up: connect, preauth, register, close. Returns both answers. */
export async function appSignUp(port: number, domain: string, token: string, username: string, password: string, address?: string): Promise<{ preauth: IqAnswer; register: IqAnswer | null }> {
  const c = await XmppRegistrant.connect(port, domain, address);
  try {
    const preauth = await c.preauth(token);
    if (preauth.type !== "result") return { preauth, register: null };
    return { preauth, register: await c.register(username, password) };
  } finally {
    await c.close();
  }
}
