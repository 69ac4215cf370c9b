/**
 * Shared by the pipeline-definition tests: the shipped pipelines.yaml with its commented example
 * switched on (exactly the shipped text, uncommented), and one in-memory DuckDB per test file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { DEFAULT_PIPELINES_FILE } from '../../src/pipelines/definition';

export function pipelinesWithExample(): string {
  const shipped = fs.readFileSync(DEFAULT_PIPELINES_FILE, 'utf8');
  const text = shipped.replace(/# example:orders:begin\n([\s\S]*?)# example:orders:end/, (_m, body: string) => body.replace(/^#/gm, ''));
  if (text === shipped) throw new Error('pipelines.yaml has no example:orders block');
  return text;
}

/** Opens an in-memory DuckDB before the file's tests (TimeZone UTC) and closes it after; `con()` is its connection. */
export function memoryDuckDB(): { con: () => DuckDBConnection } {
  let instance: DuckDBInstance | undefined;
  let connection: DuckDBConnection | undefined;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    connection = await instance.connect();
    // only the text form of TIMESTAMPTZ values depends on it; the parsing does not
    await connection.run(`SET TimeZone = 'UTC'`);
  });
  afterAll(() => {
    connection?.closeSync();
    instance?.closeSync();
  });
  return {
    con: () => {
      if (!connection) throw new Error('memoryDuckDB: used outside a test');
      return connection;
    },
  };
}

/** README "Add your own topic": the section's text and its example pipeline block (a `- name:` item of `pipelines:`). */
export function readmeExample(): { section: string; block: string } {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const section = /## Add your own topic\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  const block = /<!-- example:add-topic:begin[^>]*-->\n```yaml\n([\s\S]*?)```\n<!-- example:add-topic:end -->/.exec(section)?.[1] ?? '';
  return { section, block };
}
