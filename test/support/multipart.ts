/** A part of a `multipart/form-data` body, as a browser or `curl -F` writes it. */
export interface FormPart {
  name: string;
  /** Present for a file part. */
  filename?: string;
  /** The part's Content-Type; none when left out. */
  contentType?: string;
  body: Buffer;
}

export const FORM_BOUNDARY = '----images-to-s3-form-7MA4YWxkTrZu0gW';

/** The request's Content-Type for a body made by {@link multipartBody}. */
export const FORM_CONTENT_TYPE = `multipart/form-data; boundary=${FORM_BOUNDARY}`;

/** A `multipart/form-data` body (RFC 7578) of these parts. */
export function multipartBody(parts: FormPart[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    const headers = [`Content-Disposition: ${disposition}`, ...(part.contentType === undefined ? [] : [`Content-Type: ${part.contentType}`])];
    chunks.push(Buffer.from(`--${FORM_BOUNDARY}\r\n${headers.join('\r\n')}\r\n\r\n`, 'utf8'), part.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${FORM_BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}
