import type { FastifyReply, FastifyRequest } from 'fastify';

/** Browsers go to the sign-in page; API callers get Connect's JSON error. */
export function denyContent(request: FastifyRequest, reply: FastifyReply, signedIn: boolean) {
  const wantsHtml = (request.headers.accept ?? '').includes('text/html') && !request.headers.authorization;
  if (!signedIn && wantsHtml) {
    return reply.redirect(`/__login__?url=${encodeURIComponent(request.url)}`, 302);
  }
  if (!signedIn) {
    return reply.code(401).send({ code: 24, error: 'This content requires authentication. Sign in or send an API key.', payload: null });
  }
  return reply.code(403).send({ code: 19, error: 'You do not have permission to view this content.', payload: null });
}

export function htmlPage(title: string, body: string, options: { refreshSeconds?: number } = {}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${options.refreshSeconds ? `<meta http-equiv="refresh" content="${options.refreshSeconds}">` : ''}
<title>${escapeHtml(title)} · Lectern</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d2330;line-height:1.5}
h1{font-size:1.5rem}label{display:block;margin:.75rem 0 .25rem}input{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;border:1px solid #6b7280;border-radius:4px}
button{font:inherit;margin-top:1rem;padding:.5rem 1.25rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{color:#b91c1c}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><main>${body}</main></body></html>`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
