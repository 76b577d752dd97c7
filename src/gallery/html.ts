/**
 * HTML built with a tagged template that escapes every interpolated value, unless it is HTML made
 * by this same tag. Arrays are joined; `undefined`, `null` and `false` render as nothing.
 *
 * @example
 * html`<p title="${name}">${name}</p>` // name = '<b>' → <p title="&lt;b&gt;">&lt;b&gt;</p>
 */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let text = strings[0]!;
  values.forEach((value, i) => {
    text += render(value) + strings[i + 1]!;
  });
  return new Html(text);
}

function render(value: Value): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map((item: Value) => render(item)).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * The parts that are there (`false`, `undefined` and `''` are left out), with `separator` between them.
 *
 * @example
 * joinHtml([html`<b>1</b>`, false, 'two'], ' · ') // <b>1</b> · two
 */
export function joinHtml(parts: ReadonlyArray<Html | string | false | undefined>, separator: string): Html {
  const present = parts.filter((part) => part !== false && part !== undefined && part !== '');
  return html`${present.flatMap((part, i) => (i === 0 ? [part] : [separator, part]))}`;
}
