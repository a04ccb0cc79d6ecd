// Imported first by main.ts, before citty reads its colour support: colour codes go only to a terminal. NO_COLOR,
// when set, is left as it is (https://no-color.org).
if (!process.stdout.isTTY && process.env.NO_COLOR === undefined) process.env.NO_COLOR = "1";
