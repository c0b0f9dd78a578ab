#!/usr/bin/env python3
"""Checks http/openapi.json, and the HTTP exchanges the e2e tests recorded against it.

  validate.py --spec http/openapi.json --router http/router.cpp \
              --records DIR [--e2e-binary build/.../e2e_tests]
  validate.py --spec http/openapi.json --router http/router.cpp --self-test FILE

1. The document: OpenAPI 3.1.0 structure, unique operationIds, path parameters declared, every
   $ref resolving, every schema a valid JSON Schema (Draft 2020-12), security schemes and tags
   declared, and exactly the routes of the router's table (http/router.cpp) documented.
2. Every recorded exchange (tests/support/http_client.cpp writes <pid>.jsonl files when
   INBOXD_OPENAPI_RECORD_DIR is set): its path and method match a documented operation (a path
   no template matches must be a 404 not_found error; a documented path with another method a
   405 with Allow naming the documented methods), its status is documented for that operation,
   the documented response headers are present, the Content-Type is a documented one, and a JSON
   body validates against the response's schema. Event stream data lines validate against
   EventData.
3. Coverage: every documented operation was exercised, or is in ALLOWED_UNEXERCISED with a
   reason. Enforced only when the records hold the end of every test of the e2e binary (a whole
   run); a partial run (ctest -R) prints the coverage without failing on it.

--self-test FILE: FILE holds records, each with "expect": "pass" or "fail"; exits 0 only when
every record comes out as expected (the validator can fail, and says why).

Uses Debian's python3-jsonschema (4.10, Draft 2020-12). Exit code 0 = conforming.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import urllib.parse

import jsonschema
from jsonschema import Draft202012Validator

METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

# Documented operations the e2e suite need not exercise, with the reason.
ALLOWED_UNEXERCISED = {
}


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.validators = {}

    def resolve(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = self.pointer(node["$ref"])
            seen += 1
            if seen > 20:
                raise ValueError("$ref loop")
        return node

    def pointer(self, ref):
        if not ref.startswith("#/"):
            raise KeyError(f"external $ref not supported: {ref}")
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"unresolved $ref {ref}")
            node = node[part]
        return node

    def errors(self, schema, instance):
        key = id(schema)
        v = self.validators.get(key)
        if v is None:
            v = Draft202012Validator(schema, resolver=self.resolver)
            self.validators[key] = v
        return sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))


# --- 1. the document ------------------------------------------------------------------------

def walk(node, path="#"):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}/{i}")


def schema_nodes(doc):
    """Every Schema Object of the document (by where OpenAPI puts them)."""
    for name, s in doc.get("components", {}).get("schemas", {}).items():
        yield f"#/components/schemas/{name}", s
    for where, node in walk(doc):
        if not isinstance(node, dict) or where.startswith("#/components/schemas"):
            continue
        if "schema" in node and isinstance(node["schema"], dict) and (
                "in" in node or where.split("/")[-2] in ("content", "headers") or
                "/content/" in where or "/headers/" in where):
            yield where + "/schema", node["schema"]


def router_routes(router_cpp):
    text = open(router_cpp, encoding="utf-8").read()
    routes = set()
    for method, pattern in re.findall(r'\{"([A-Z]+)",\s*"(/[^"]*)",\s*route::\w+\}', text):
        routes.add((method.lower(), re.sub(r"\{\}", "{}", pattern)))
    return routes


def check_document(spec, router_cpp):
    doc = spec.doc
    fails = []
    if doc.get("openapi") != "3.1.0":
        fails.append("openapi must be 3.1.0")
    info = doc.get("info", {})
    if not isinstance(info.get("title"), str) or not isinstance(info.get("version"), str):
        fails.append("info.title and info.version are required strings")
    for key in doc:
        if key not in ("openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks",
                       "components", "security", "tags", "externalDocs") and not key.startswith("x-"):
            fails.append(f"unknown top-level field {key}")
    for where, node in walk(doc):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            try:
                spec.pointer(node["$ref"])
            except KeyError as e:
                fails.append(f"{where}: {e}")
    for where, s in schema_nodes(doc):
        try:
            Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            fails.append(f"{where}: not a valid JSON Schema: {e.message}")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for name, s in schemes.items():
        if s.get("type") not in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"):
            fails.append(f"securityScheme {name}: bad type")
        if s.get("type") == "apiKey" and (s.get("in") not in ("query", "header", "cookie") or not s.get("name")):
            fails.append(f"securityScheme {name}: apiKey needs in and name")
    tags = {t["name"] for t in doc.get("tags", [])}
    op_ids = {}
    documented = set()
    for path, item in doc.get("paths", {}).items():
        if not path.startswith("/"):
            fails.append(f"path {path} must start with /")
        template_params = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if method not in METHODS:
                fails.append(f"{path}: unknown field {method}")
                continue
            documented.add((method, re.sub(r"\{[^}]+\}", "{}", path)))
            oid = op.get("operationId")
            if not oid:
                fails.append(f"{where}: no operationId")
            elif oid in op_ids:
                fails.append(f"{where}: operationId {oid} also used by {op_ids[oid]}")
            else:
                op_ids[oid] = where
            for t in op.get("tags", []):
                if t not in tags:
                    fails.append(f"{where}: tag {t} is not declared")
            for req in op.get("security", []):
                for name in req:
                    if name not in schemes:
                        fails.append(f"{where}: unknown security scheme {name}")
            declared = set()
            seen = set()
            for p in op.get("parameters", []):
                p = spec.resolve(p)
                if p.get("in") not in ("query", "header", "path", "cookie") or not p.get("name"):
                    fails.append(f"{where}: parameter without name/in")
                    continue
                if (p["name"].lower() if p["in"] == "header" else p["name"], p["in"]) in seen:
                    fails.append(f"{where}: parameter {p['name']} ({p['in']}) twice")
                seen.add((p["name"].lower() if p["in"] == "header" else p["name"], p["in"]))
                if p["in"] == "path":
                    declared.add(p["name"])
                    if p.get("required") is not True:
                        fails.append(f"{where}: path parameter {p['name']} must be required")
                if "schema" not in p and "content" not in p:
                    fails.append(f"{where}: parameter {p['name']} has no schema")
            if declared != template_params:
                fails.append(f"{where}: path parameters {sorted(declared)} != template {sorted(template_params)}")
            responses = op.get("responses")
            if not responses:
                fails.append(f"{where}: no responses")
                continue
            for code, resp in responses.items():
                if not re.fullmatch(r"[1-5](\d\d|XX)|default", code):
                    fails.append(f"{where}: bad status key {code}")
                resp = spec.resolve(resp)
                if "description" not in resp:
                    fails.append(f"{where} {code}: response without description")
                if "X-Request-Id" not in resp.get("headers", {}):
                    fails.append(f"{where} {code}: X-Request-Id is not documented")
    if router_cpp:
        routes = router_routes(router_cpp)
        if not routes:
            fails.append(f"no routes found in {router_cpp}")
        for m, p in sorted(routes - documented):
            fails.append(f"route {m.upper()} {p} (http/router.cpp) is not documented")
        for m, p in sorted(documented - routes):
            fails.append(f"documented {m.upper()} {p} is not a route of http/router.cpp")
    return fails


# --- 2. the exchanges -----------------------------------------------------------------------

class Matcher:
    def __init__(self, spec):
        self.spec = spec
        self.templates = []
        for path, item in spec.doc["paths"].items():
            segs = path.strip("/").split("/")
            self.templates.append((path, segs, item))

    def match(self, path):
        """Documented templates matching the path, most literal segments first."""
        segs = path.strip("/").split("/") if path != "/" else [""]
        if not path.startswith("/"):
            return []
        out = []
        for template, tsegs, item in self.templates:
            if len(tsegs) != len(segs):
                continue
            literal = 0
            for t, s in zip(tsegs, segs):
                if t.startswith("{") and t.endswith("}"):
                    if not s:
                        break
                elif t != s:
                    break
                else:
                    literal += 1
            else:
                out.append((literal, template, item))
        out.sort(key=lambda x: -x[0])
        return [(t, i) for _, t, i in out]


def media_base(ctype):
    return ctype.split(";")[0].strip().lower()


def media_params(ctype):
    out = {}
    for part in ctype.split(";")[1:]:
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip().strip('"').lower()
    return out


def content_matches(documented, actual):
    if documented == "*/*":
        return True
    if media_base(documented) != media_base(actual):
        return False
    have = media_params(actual)
    return all(have.get(k) == v for k, v in media_params(documented).items())


def check_response(spec, rec, resp, where):
    fails = []
    resp = spec.resolve(resp)
    headers = {k.lower(): v for k, v in rec.get("headers", {}).items()}
    for name, h in resp.get("headers", {}).items():
        h = spec.resolve(h)
        value = headers.get(name.lower())
        if value is None:
            if h.get("required"):
                fails.append(f"{where}: header {name} missing")
            continue
        if "schema" in h:
            for e in spec.errors(h["schema"], value):
                fails.append(f"{where}: header {name}: {e.message}")
    ctype = headers.get("content-type", "")
    content = resp.get("content")
    body_bytes = rec.get("bodyBytes", 0)
    if not content:
        if body_bytes and rec.get("method") != "HEAD":
            fails.append(f"{where}: a body ({body_bytes} bytes, {ctype}) where none is documented")
        return fails
    matching = [m for m in content if content_matches(m, ctype)] if ctype else []
    if not matching:
        fails.append(f"{where}: Content-Type {ctype!r} is not one of {sorted(content)}")
        return fails
    media = content[matching[0]]
    if media_base(ctype) == "application/json" or media_base(ctype).endswith("+json"):
        if rec.get("bodyUnread"):
            return fails
        if "body" not in rec:
            fails.append(f"{where}: the body is not JSON: {rec.get('bodyText', '')[:200]!r}")
            return fails
        if "schema" in media:
            for e in spec.errors(media["schema"], rec["body"])[:5]:
                path = "/".join(str(p) for p in e.absolute_path)
                fails.append(f"{where}: body/{path}: {e.message[:300]}")
    return fails


def check_record(spec, matcher, rec, seen):
    """Failures of one exchange; records (operation, status) in seen."""
    if "streamEvent" in rec:
        where = f"event {rec['streamEvent']}"
        if "data" not in rec:
            return [f"{where}: data is not JSON: {rec.get('dataText', '')[:200]!r}"]
        fails = [f"{where}: data/{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                 for e in spec.errors(spec.pointer("#/components/schemas/EventData"), rec["data"])[:5]]
        if rec["data"].get("type") != rec["streamEvent"]:
            fails.append(f"{where}: data.type {rec['data'].get('type')!r} differs from the event: line")
        return fails
    method = rec["method"].lower()
    target = rec["target"]
    status = str(rec["status"])
    raw_path, _, query = target.partition("?")
    path = urllib.parse.unquote(raw_path)
    where = f"{rec['method']} {target[:160]} -> {status}"
    candidates = matcher.match(path)
    if not candidates:
        if status != "404":
            return [f"{where}: undocumented path"]
        seen.add(("unrouted", "404"))
        return check_response(spec, rec, spec.pointer("#/components/responses/NotFound"), where)
    for template, item in candidates:
        if method in item:
            break
    else:
        template, item = candidates[0]
        allowed = sorted({m.upper() for _, i in candidates for m in i if m in METHODS})
        if status != "405":
            return [f"{where}: undocumented method (documented: {', '.join(allowed)})"]
        seen.add(("405", "405"))
        fails = check_response(spec, rec, spec.pointer("#/components/responses/MethodNotAllowed"), where)
        got = sorted(m.strip() for m in rec.get("headers", {}).get("allow", "").split(","))
        if got != allowed:
            fails.append(f"{where}: Allow {got} but the document has {allowed}")
        return fails
    op = item[method]
    responses = op["responses"]
    resp = responses.get(status) or responses.get(status[0] + "XX")
    if resp is None:
        return [f"{where}: status {status} is not documented for {op['operationId']} "
                f"(documented: {', '.join(responses)})"]
    seen.add((op["operationId"], status))
    fails = check_response(spec, rec, resp, f"{where} [{op['operationId']}]")
    # Query parameters: names the document does not know.
    if query:
        known = {spec.resolve(p)["name"] for p in op.get("parameters", []) if spec.resolve(p).get("in") == "query"}
        for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if name not in known:
                fails.append(f"{where}: undocumented query parameter {name!r}")
    return fails


def load_records(directory):
    records = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        lines = text.split("\n")
        if not text.endswith("\n"):
            lines = lines[:-1]  # a line still being written by a running test
        for n, line in enumerate(lines, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: not JSON: {e}")
    return records


def e2e_tests(binary):
    out = subprocess.run([binary, "--gtest_list_tests"], check=True, capture_output=True, text=True).stdout
    tests, suite = set(), None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            suite = line.split("#")[0].strip()
        else:
            name = line.split("#")[0].strip()
            if not suite.startswith("DISABLED_") and not name.startswith("DISABLED_"):
                tests.add(suite + name)
    return tests


def operations(spec):
    for path, item in spec.doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield op["operationId"], method.upper(), path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--router")
    ap.add_argument("--records")
    ap.add_argument("--e2e-binary")
    ap.add_argument("--self-test")
    args = ap.parse_args()

    spec = Spec(args.spec)
    fails = check_document(spec, args.router)
    for f in fails:
        print(f"FAIL document: {f}")
    if fails:
        print(f"openapi: the document has {len(fails)} problems")
        return 1
    print(f"openapi: document OK ({sum(1 for _ in operations(spec))} operations, jsonschema {jsonschema.__version__})")
    if not args.records and not args.self_test:
        return 0  # the document alone
    matcher = Matcher(spec)

    if args.self_test:
        wrong = 0
        with open(args.self_test, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip() or line.lstrip().startswith("//"):
                    continue
                rec = json.loads(line)
                got = check_record(spec, matcher, rec, set())
                expected = rec.get("expect")
                outcome = "fail" if got else "pass"
                mark = "ok " if outcome == expected else "WRONG"
                print(f"{mark} line {n} ({rec.get('why', '')}): {outcome}" + (f": {got[0]}" if got else ""))
                wrong += outcome != expected
        print(f"openapi self-test: {'all as expected' if not wrong else f'{wrong} records not as expected'}")
        return 1 if wrong else 0

    records = load_records(args.records)
    exchanges = [r for r in records if "method" in r or "streamEvent" in r]
    ended = {r["testEnd"] for r in records if "testEnd" in r}
    seen = set()
    failures = {}
    for rec in exchanges:
        for f in check_record(spec, matcher, rec, seen):
            failures.setdefault(f, set()).add(rec.get("test", "?"))
    for f, tests in sorted(failures.items()):
        print(f"FAIL {f}   (in {', '.join(sorted(tests)[:3])}{' ...' if len(tests) > 3 else ''})")

    whole = False
    if args.e2e_binary:
        listed = e2e_tests(args.e2e_binary)
        missing = listed - ended
        whole = not missing
        print(f"openapi: {len(exchanges)} exchanges from {len(ended)} of {len(listed)} e2e tests"
              + ("" if whole else " (a partial run: coverage is not enforced)"))
    else:
        print(f"openapi: {len(exchanges)} exchanges from {len(ended)} tests (no --e2e-binary: coverage is not enforced)")

    uncovered = []
    print("openapi coverage (operation: statuses seen):")
    for oid, method, path in operations(spec):
        statuses = sorted(s for o, s in seen if o == oid)
        note = ""
        if not statuses:
            if oid in ALLOWED_UNEXERCISED:
                note = f"  (allowed: {ALLOWED_UNEXERCISED[oid]})"
            else:
                uncovered.append(oid)
                note = "  NOT EXERCISED"
        print(f"  {oid:24} {method:6} {path:58} {' '.join(statuses)}{note}")
    for oid in ALLOWED_UNEXERCISED:
        if not any(o == oid for o, _, _ in operations(spec)):
            print(f"FAIL ALLOWED_UNEXERCISED names {oid}, which is not an operation")
            failures[oid] = set()
    if whole and uncovered:
        print(f"FAIL operations never exercised by the e2e suite: {', '.join(uncovered)}")
    bad = len(failures) + (1 if whole and uncovered else 0)
    print(f"openapi: {len(exchanges) - sum(1 for _ in ())} exchanges checked, "
          f"{len(failures)} distinct failures" + (f", {len(uncovered)} operations not exercised" if uncovered else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
