/** A request's JSON body: an empty body is `undefined`; one that does not parse is `{ ok: false }`. */
export async function readJson(
  request: Request,
): Promise<{ readonly ok: true; readonly value: unknown; readonly text: string } | { readonly ok: false }> {
  const text = await request.text();
  if (text.trim() === '') return { ok: true, value: undefined, text };
  try {
    return { ok: true, value: JSON.parse(text) as unknown, text };
  } catch {
    return { ok: false };
  }
}
