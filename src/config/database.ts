// `[database]`.
import { type Env, Section } from "./section.ts";

export interface DatabaseConfig {
  path: string;
  busyTimeout: number;
}

/** `[database]`: the SQLite file (INVITED_DATABASE overrides its path). */
export function readDatabase(root: Section, env: Env): DatabaseConfig {
  const database = root.table_("database");
  const dbPathFromFile = database.string("path", "./invited.db");
  const dbCfg: DatabaseConfig = {
    path: env.INVITED_DATABASE ?? dbPathFromFile,
    busyTimeout: database.duration("busy_timeout", "5s"),
  };
  if (dbCfg.path === "") database.fail("path", "must not be empty");
  database.done();

  return dbCfg;
}
