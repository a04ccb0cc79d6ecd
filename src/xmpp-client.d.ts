// The part of @xmpp/client (which ships no types) that invited uses: the xmpp sign-in check (src/sessions/verifiers.ts) and the Prosody tests.
declare module "@xmpp/client" {
  interface XmppClient {
    on(event: "error", listener: (error: Error) => void): void;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
  }
  export function client(options: { service: string; domain: string; username?: string; password?: string; resource?: string }): XmppClient;
}
