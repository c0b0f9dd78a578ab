# Writes a C++ source that embeds a file (run at build time: cmake -P, no network):
#   cmake -DIN=<file> -DOUT=<source.cpp> -DFUNCTION=<name> -DHEADER=<include> -P embed_file.cmake
# The source defines, in namespace inboxd, `std::string_view <name>()` (the file's bytes) and
# `std::string_view <name>_etag()` (a strong ETag: the quoted SHA-256 of the bytes, first 32 hex
# digits). The bytes go in as a raw string literal; a file containing its delimiter is refused.
foreach(var IN ITEMS IN FUNCTION HEADER OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: ${var} is not set")
  endif()
endforeach()
file(READ "${IN}" content)
set(delimiter "inboxd_embed")
string(FIND "${content}" ")${delimiter}\"" found)
if(NOT found EQUAL -1)
  message(FATAL_ERROR "embed_file.cmake: ${IN} contains the raw string delimiter")
endif()
file(SHA256 "${IN}" digest)
string(SUBSTRING "${digest}" 0 32 digest)
file(WRITE "${OUT}"
  "// Generated from ${IN} by cmake/embed_file.cmake. Do not edit.\n"
  "#include \"${HEADER}\"\n\n"
  "namespace inboxd {\n\n"
  "namespace {\n"
  "constexpr char kBytes[] = R\"${delimiter}(${content})${delimiter}\";\n"
  "} // namespace\n\n"
  "std::string_view ${FUNCTION}() {\n"
  "  return {kBytes, sizeof kBytes - 1};\n"
  "}\n\n"
  "std::string_view ${FUNCTION}_etag() {\n"
  "  return \"\\\"${digest}\\\"\";\n"
  "}\n\n"
  "} // namespace inboxd\n")
