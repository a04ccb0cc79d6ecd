// Preloaded for every test file (bunfig.toml). The tests start real servers, CLI processes and argon2id hashes on a
// shared 2-core machine, so each test gets 60 s instead of bun's 5 s; Bun 1.4 ignores a timeout set in bunfig.toml.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(60_000);
