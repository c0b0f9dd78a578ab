# Writes a C++ source that embeds every file of the web inbox (run at build time: cmake -P):
#   cmake -DDIR=<web folder> -DOUT=<source.cpp> -P embed_web.cmake
# The source defines inboxd::web_assets() (http/web_assets.hpp): each file's name, bytes and
# strong ETag (the quoted SHA-256 of the bytes, first 32 hex digits), sorted by name. Names are
# limited to [a-z0-9_.-] (they are URL segments) and the files to text (.html, .css, .js, .svg,
# .json, .txt: embedded as string literals); a file containing the raw string delimiter, or named
# otherwise, is refused.
foreach(var IN ITEMS DIR OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_web.cmake: ${var} is not set")
  endif()
endforeach()
file(GLOB files LIST_DIRECTORIES false RELATIVE "${DIR}" "${DIR}/*")
list(SORT files)
set(delimiter "inboxd_web")
set(literals "")
set(rows "")
set(n 0)
foreach(name IN LISTS files)
  if(NOT name MATCHES "^[a-z0-9_-][a-z0-9_.-]*\\.(html|css|js|svg|json|txt)$")
    message(FATAL_ERROR "embed_web.cmake: ${DIR}/${name}: a name of [a-z0-9_.-] ending in .html, .css, .js, .svg, .json or .txt")
  endif()
  file(READ "${DIR}/${name}" content)
  string(FIND "${content}" ")${delimiter}\"" found)
  if(NOT found EQUAL -1)
    message(FATAL_ERROR "embed_web.cmake: ${DIR}/${name} contains the raw string delimiter")
  endif()
  file(SHA256 "${DIR}/${name}" digest)
  string(SUBSTRING "${digest}" 0 32 digest)
  string(APPEND literals "constexpr char k${n}[] = R\"${delimiter}(${content})${delimiter}\";\n")
  string(APPEND rows "      {\"${name}\", {k${n}, sizeof k${n} - 1}, \"\\\"${digest}\\\"\"},\n")
  math(EXPR n "${n} + 1")
endforeach()
file(WRITE "${OUT}.tmp"
  "// Generated from ${DIR} by cmake/embed_web.cmake. Do not edit.\n"
  "#include \"http/web_assets.hpp\"\n\n"
  "namespace inboxd {\n\n"
  "namespace {\n"
  "${literals}"
  "} // namespace\n\n"
  "const std::vector<web_asset>& web_assets() {\n"
  "  static const std::vector<web_asset> all{\n"
  "${rows}"
  "  };\n"
  "  return all;\n"
  "}\n\n"
  "} // namespace inboxd\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
