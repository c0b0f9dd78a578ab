#pragma once
// POST /api/webhook/whatsapp (Meta) and /api/webhook/kapso: checks the signature and decodes the
// body, then hands each workspace its events (ingest_batch) and unknown numbers to the directory
// (dead letters); answers 200 once every item is stored. Runs on the HTTP thread that read the
// request (no actor hop before the workspace actor); it only reads the registry snapshot and
// sends messages, so any thread may call it.
//
// Scale-out: a body naming a number this node does not know, on an exchange not yet `synced`,
// is left unanswered and `false` returned (after the signature check, so only signed bodies
// cost a read of the workspaces): the caller has the directory read the workspaces again and
// calls again with the exchange synced; the number may belong to a workspace created on another
// node a moment ago.

#include "http/front_actor.hpp"
#include "messages/http_exchange.hpp"

namespace inboxd {

bool ingest_webhook(const front_deps& deps, const http_exchange& ex, bool meta);

} // namespace inboxd
