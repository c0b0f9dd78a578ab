// The live stream from /api/events. EventSource reconnects by itself after a network error and
// sends Last-Event-ID; when it gives up (readyState CLOSED: an HTTP error, a 429, a restart)
// the stream is opened again after a growing delay with ?lastEventId=<last id seen>.

import { eventsUrl } from './api.js';

const TYPES = ['conversation.created', 'conversation.updated', 'message.created', 'message.updated'];
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

export class LiveEvents {
  // onEvent(type, data); onState('live' | 'reconnecting'); onResync() when a stream opened
  // without an event id to resume from (the first one, or one reopened before any event came):
  // what happened before it must be read again. onClosed() when the browser gave up on it.
  constructor({ onEvent, onState, onResync, onClosed }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.onResync = onResync;
    this.onClosed = onClosed;
    this.source = null;
    this.lastId = '';
    this.delay = FIRST_DELAY_MS;
    this.timer = 0;
  }

  start() {
    this.stop();
    this.lastId = '';
    this.delay = FIRST_DELAY_MS;
    this.open();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.source) this.source.close();
    this.source = null;
    this.onState('reconnecting');
  }

  open() {
    const source = new EventSource(eventsUrl(this.lastId));
    this.source = source;
    source.addEventListener('open', () => {
      if (this.source !== source) return;
      this.delay = FIRST_DELAY_MS;
      this.onState('live');
      if (!this.lastId) this.onResync();
    });
    source.addEventListener('error', () => {
      if (this.source !== source) return;
      this.onState('reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        this.reopenLater();
        this.onClosed();
      }
    });
    for (const type of TYPES) {
      source.addEventListener(type, (e) => {
        if (this.source !== source) return;
        if (e.lastEventId) this.lastId = e.lastEventId;
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        if (data && typeof data === 'object') this.onEvent(type, data);
      });
    }
  }

  reopenLater() {
    if (this.source) this.source.close();
    this.source = null;
    clearTimeout(this.timer);
    const wait = this.delay + Math.floor(Math.random() * 500);
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.open();
    }, wait);
  }
}
