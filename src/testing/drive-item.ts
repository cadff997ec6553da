import type { ReplyContext } from './responses.js';
import { json } from './responses.js';
import type { ItemTarget } from './request-path.js';
import { type FileEntry, hash } from './workbook-files.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/**
 * `GET {item}`: the file's driveItem under whatever name the request gave it, with the
 * properties `$select` names (all of these when it names none; names it does not know are left out).
 */
export function driveItemAnswer(ctx: ReplyContext, url: URL, target: ItemTarget, file: FileEntry): Response {
  const slash = file.rootPath.lastIndexOf('/');
  const folder = file.rootPath.slice(0, slash);
  const parentId =
    folder === '' ? `01${hash(`${file.driveId}\nroot`)}` : `01${hash(`${file.driveId}\n${folder.toLowerCase()}`)}`;
  const item: Record<string, unknown> = {
    id: file.itemId,
    name: file.rootPath.slice(slash + 1),
    createdDateTime: file.createdAt,
    lastModifiedDateTime: file.createdAt,
    file: { mimeType: XLSX },
    parentReference: {
      driveId: file.driveId,
      driveType: 'business',
      id: parentId,
      path: `/drives/${file.driveId}/root:${folder}`,
    },
  };
  const select = (url.searchParams.get('$select') ?? url.searchParams.get('select') ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const picked =
    select.length === 0
      ? item
      : Object.fromEntries(
          Object.entries(item).filter(([name]) => select.some((s) => s.toLowerCase() === name.toLowerCase())),
        );
  const entity = select.length === 0 ? 'items' : `items(${select.join(',')})`;
  const context = `${url.origin}/${target.version}/$metadata#drives('${file.driveId}')/${entity}/$entity`;
  return json(ctx, 200, { '@odata.context': context, ...picked });
}
