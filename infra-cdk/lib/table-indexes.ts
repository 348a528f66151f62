import * as fs from 'fs';
import * as path from 'path';

/**
 * The single table's global secondary indexes (`shared/table-indexes.json`, docs/data-model.md):
 * their keys, and the one non-key attribute each projects (the TTL). The Rust store reads an
 * index query's items from the table, so nothing else is copied into the indexes
 * (docs/decisions/1090-lean-indexes.md).
 */
export interface TableIndex {
  readonly name: string;
  readonly partition_key: string;
  readonly sort_key: string;
}

export interface TableIndexes {
  readonly indexes: TableIndex[];
  readonly projected_attributes: string[];
}

/** `<repo>/shared/table-indexes.json`, resolved from this file (infra-cdk/lib). */
export const TABLE_INDEXES_FILE = path.resolve(__dirname, '..', '..', 'shared', 'table-indexes.json');

export function loadTableIndexes(file: string = TABLE_INDEXES_FILE): TableIndexes {
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as TableIndexes;
  if (!Array.isArray(spec.indexes) || spec.indexes.length === 0) {
    throw new Error(`${file}: "indexes" must list at least one index`);
  }
  if (!Array.isArray(spec.projected_attributes)) {
    throw new Error(`${file}: "projected_attributes" must be a list of attribute names`);
  }
  return spec;
}

export const TABLE_INDEXES = loadTableIndexes();
