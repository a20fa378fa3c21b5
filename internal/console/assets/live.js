// tail follows a Server-Sent Events stream of the API. EventSource cannot send an
// Authorization header (and the token must never go in a URL), so the stream is read with
// fetch. A broken stream is resumed where it was (Last-Event-ID), after a growing pause.
import { ApiError } from './api.js';
import { storedToken } from './session.js';

// tail calls onEvent(data, id) for each event's JSON data, and onState(state, error) with
// "open", "reconnecting" or "closed" (closed with the error the API answered). It returns a
// function that stops it.
export function tail(path, { onEvent, onState = () => {} }) {
  const ctl = new AbortController();
  let lastId = '';
  let pause = 500;
  const run = async () => {
    while (!ctl.signal.aborted) {
      try {
        const headers = { Authorization: 'Bearer ' + storedToken(), Accept: 'text/event-stream' };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetch(path, { headers, signal: ctl.signal, cache: 'no-store', credentials: 'omit' });
        if (!res.ok) {
          let body = null;
          try {
            body = await res.json();
          } catch {
            /* not JSON */
          }
          const err = new ApiError(res.status, body);
          if (res.status !== 429 && res.status < 500) {
            onState('closed', err);
            return;
          }
          throw err;
        }
        onState('open');
        pause = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let data = '';
            let id = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('data:')) data += line.slice(5).trimStart();
              else if (line.startsWith('id:')) id = line.slice(3).trim();
            }
            if (!data) continue; // a keepalive comment
            if (id) lastId = id;
            try {
              onEvent(JSON.parse(data), id);
            } catch (err) {
              console.error('live tail: bad event', err);
            }
          }
        }
      } catch (err) {
        if (ctl.signal.aborted) return;
        onState('reconnecting', err instanceof ApiError ? err : new ApiError(0, { error: err.message }));
      }
      if (ctl.signal.aborted) return;
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 10000);
    }
  };
  run();
  return () => ctl.abort();
}
