export class StoreError extends Error {
  override name = 'StoreError';
}

/** The database was migrated by a newer Tandem: permanent, retrying cannot help. */
export class NewerSchemaError extends StoreError {
  override name = 'NewerSchemaError';
}
