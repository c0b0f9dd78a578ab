#include <string>

#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

using nlohmann::json;

namespace {

const json* find(const json& obj, const char* key) {
  if (!obj.is_object())
    return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string id_string(const json* v) {
  if (!v)
    return {};
  if (v->is_string())
    return v->get<std::string>();
  if (v->is_number_unsigned())
    return std::to_string(v->get<uint64_t>());
  if (v->is_number_integer())
    return std::to_string(v->get<int64_t>());
  return {};
}

void add(std::vector<std::string>& ids, std::string id) {
  if (id.empty())
    return;
  for (const auto& known : ids)
    if (known == id)
      return;
  ids.push_back(std::move(id));
}

std::string kapso_event_number(const json& event) {
  std::string id = id_string(find(event, "phone_number_id"));
  if (id.empty())
    if (const json* conv = find(event, "conversation"))
      id = id_string(find(*conv, "phone_number_id"));
  return id;
}

void add_kapso_event(const json& event, std::vector<std::string>& ids) {
  add(ids, kapso_event_number(event));
}

std::string change_number(const json& change) {
  if (const json* value = find(change, "value"))
    if (const json* metadata = find(*value, "metadata"))
      return id_string(find(*metadata, "phone_number_id"));
  return {};
}

bool kept(const std::vector<std::string>& keep, const std::string& id) {
  for (auto& k : keep)
    if (k == id)
      return true;
  return false;
}

} // namespace

std::vector<std::string> phone_number_ids_of(const json& body) {
  std::vector<std::string> ids;
  try {
    if (!body.is_object())
      return ids;
    if (const json* entries = find(body, "entry"); entries && entries->is_array()) {
      for (const auto& entry : *entries) {
        const json* changes = find(entry, "changes");
        if (!changes || !changes->is_array())
          continue;
        for (const auto& change : *changes)
          if (const json* value = find(change, "value"))
            if (const json* metadata = find(*value, "metadata"))
              add(ids, id_string(find(*metadata, "phone_number_id")));
      }
      return ids;
    }
    if (const json* data = find(body, "data"); data && data->is_array()) {
      for (const auto& event : *data)
        add_kapso_event(event, ids);
      return ids;
    }
    add_kapso_event(body, ids);
  } catch (const std::exception&) { // bad_alloc: return what we have
  }
  return ids;
}

json body_for_numbers(const json& body, const std::vector<std::string>& keep) {
  if (!body.is_object())
    return body;
  if (const json* entries = find(body, "entry"); entries && entries->is_array()) {
    json out = body;
    json& out_entries = out["entry"];
    out_entries = json::array();
    for (const auto& entry : *entries) {
      const json* changes = find(entry, "changes");
      if (!changes || !changes->is_array())
        continue;
      json part = entry;
      json& part_changes = part["changes"];
      part_changes = json::array();
      for (const auto& change : *changes)
        if (kept(keep, change_number(change)))
          part_changes.push_back(change);
      if (!part_changes.empty())
        out_entries.push_back(std::move(part));
    }
    return out;
  }
  if (const json* data = find(body, "data"); data && data->is_array()) {
    json out = body;
    json& out_data = out["data"];
    out_data = json::array();
    for (const auto& event : *data)
      if (kept(keep, kapso_event_number(event)))
        out_data.push_back(event);
    return out;
  }
  return body;
}

} // namespace inboxd
