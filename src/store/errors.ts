export class StoreError extends Error {
  override name = 'StoreError';
}

/** The database was migrated by a newer Tandem: permanent, retrying cannot help. */
export class NewerSchemaError extends StoreError {
  override name = 'NewerSchemaError';
}

/** A stored JSON column that does not hold what its readers expect: a bug or a damaged row, never bad input. */
export class CorruptColumnError extends StoreError {
  override name = 'CorruptColumnError';
  constructor(
    readonly table: string,
    readonly column: string,
    readonly rowId: string | number,
    problem: string,
  ) {
    super(`${table}.${column} of row ${rowId} is corrupt: ${problem}`);
  }
}
