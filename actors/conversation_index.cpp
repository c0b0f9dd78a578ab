#include "actors/conversation_index.hpp"

#include <algorithm>

namespace inboxd {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool contact_matches(const contact& c, const std::string& lq) {
  if (lq.empty())
    return true;
  return lower(c.display_name()).find(lq) != std::string::npos ||
         lower(c.profile_name).find(lq) != std::string::npos ||
         c.phone.find(lq) != std::string::npos;
}

bool has_all_tags(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  for (auto& t : want)
    if (std::find(have.begin(), have.end(), t) == have.end())
      return false;
  return true;
}

} // namespace

void conversation_index::put_contact(const contact& c) {
  auto i = contacts_.find(c.id);
  if (i != contacts_.end() && i->second.phone != c.phone)
    by_phone_.erase(i->second.phone);
  contacts_[c.id] = c;
  by_phone_[c.phone] = c.id;
}

void conversation_index::put_conversation(const conversation& c) {
  auto i = conversations_.find(c.id);
  if (i != conversations_.end())
    activity_.erase(activity_of(i->second));
  conversations_[c.id] = c;
  by_contact_[c.contact_id] = c.id;
  activity_.insert(activity_of(c));
}

const contact* conversation_index::contact_by_phone(const std::string& phone) const {
  auto i = by_phone_.find(phone);
  return i == by_phone_.end() ? nullptr : contact_by_id(i->second);
}

const contact* conversation_index::contact_by_id(const std::string& id) const {
  auto i = contacts_.find(id);
  return i == contacts_.end() ? nullptr : &i->second;
}

const conversation* conversation_index::conversation_by_id(const std::string& id) const {
  auto i = conversations_.find(id);
  return i == conversations_.end() ? nullptr : &i->second;
}

const conversation* conversation_index::conversation_of_contact(const std::string& cid) const {
  auto i = by_contact_.find(cid);
  return i == by_contact_.end() ? nullptr : conversation_by_id(i->second);
}

nlohmann::json conversation_index::render(const conversation& c, int64_t now_ms) const {
  static const contact none;
  auto ct = contact_by_id(c.contact_id);
  return conversation_api(c, ct ? *ct : none, now_ms);
}

nlohmann::json conversation_index::list_contacts(const std::string& q, int64_t page,
                                                 int64_t limit) const {
  auto lq = lower(q);
  std::vector<const contact*> hits;
  for (auto& [id, c] : contacts_)
    if (c.updated_at != 0 && contact_matches(c, lq))
      hits.push_back(&c);
  std::sort(hits.begin(), hits.end(), [](const contact* a, const contact* b) {
    return a->updated_at != b->updated_at ? a->updated_at > b->updated_at : a->id < b->id;
  });
  nlohmann::json out = nlohmann::json::array();
  auto first = static_cast<size_t>((page - 1) * limit);
  for (size_t i = first; i < hits.size() && i < first + static_cast<size_t>(limit); ++i)
    out.push_back(contact_api(*hits[i]));
  return {{"contacts", std::move(out)},
          {"page", page},
          {"limit", limit},
          {"total", hits.size()}};
}

nlohmann::json conversation_index::list_conversations(const conversation_filter& f,
                                                      int64_t now_ms) const {
  auto lq = lower(f.q);
  int64_t all = 0, mine = 0, unassigned = 0, total = 0;
  auto first = (f.page - 1) * f.limit;
  nlohmann::json out = nlohmann::json::array();
  for (auto& [activity, id] : activity_) {
    auto& c = conversations_.at(id);
    if (c.updated_at == 0) // created for a webhook whose write has not committed yet
      continue;
    if (f.status != "all" && c.status != f.status)
      continue;
    if (!f.mode.empty() && c.mode != f.mode)
      continue;
    if (f.active_only && !(c.last_inbound_at && now_ms < c.last_inbound_at + kReplyWindowMs))
      continue;
    if (!f.tags.empty() && !has_all_tags(c.tags, f.tags))
      continue;
    if (!lq.empty()) {
      auto ct = contact_by_id(c.contact_id);
      if (!ct || !contact_matches(*ct, lq))
        continue;
    }
    ++all;
    if (c.assigned_to.empty())
      ++unassigned;
    else if (!f.me.empty() && c.assigned_to == f.me)
      ++mine;
    if (f.assigned_to == "unassigned" ? !c.assigned_to.empty()
                                      : (!f.assigned_to.empty() && c.assigned_to != f.assigned_to))
      continue;
    if (total >= first && total < first + f.limit)
      out.push_back(render(c, now_ms));
    ++total;
  }
  return {{"conversations", std::move(out)},
          {"page", f.page},
          {"limit", f.limit},
          {"total", total},
          {"counts", {{"all", all}, {"mine", mine}, {"unassigned", unassigned}}}};
}

} // namespace inboxd
