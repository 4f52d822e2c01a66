// Reading the fields of a submitted form: an empty optional field is left out of the request body.

export function optionalText(data: FormData, field: string): string | undefined {
  const value = String(data.get(field) ?? '').trim();
  return value === '' ? undefined : value;
}

export function optionalNumber(data: FormData, field: string): number | undefined {
  const value = optionalText(data, field);
  return value === undefined ? undefined : Number(value);
}
