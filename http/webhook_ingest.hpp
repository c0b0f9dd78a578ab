#pragma once
// POST /api/webhook/whatsapp (Meta) and /api/webhook/kapso: checks the signature and decodes the
// body, then hands each workspace its events (ingest_batch) and unknown numbers to the directory
// (dead letters); answers 200 once every item is stored. Runs on the HTTP thread that read the
// request (no actor hop before the workspace actor); it only reads the registry snapshot and
// sends messages, so any thread may call it.

#include "http/front_actor.hpp"
#include "messages/http_exchange.hpp"

namespace inboxd {

void ingest_webhook(const front_deps& deps, const http_exchange& ex, bool meta);

} // namespace inboxd
