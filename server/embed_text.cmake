# Writes a C++ header holding a text file as a string_view (cmake -P; the build runs it whenever the
# file changes): -DINPUT=file -DOUTPUT=header -DNAME=identifier.
file(READ "${INPUT}" text)
set(delimiter "vkllm_embed")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter ')${delimiter}\"'")
endif()
file(WRITE "${OUTPUT}.tmp"
     "// Generated from ${INPUT} by server/embed_text.cmake; do not edit.\n#pragma once\n#include <string_view>\n\n"
     "inline constexpr std::string_view ${NAME} = R\"${delimiter}(${text})${delimiter}\";\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
