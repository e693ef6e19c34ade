# Run by `cmake --install` (see install.cmake): writes deploy/gptoss.service
# with ExecStart pointing at this install's binary, and installs it.
file(READ "${GPTOSS_UNIT_IN}" unit)
string(REPLACE "/usr/local/bin/gptoss" "${CMAKE_INSTALL_PREFIX}/${GPTOSS_BINDIR}/gptoss" unit "${unit}")
file(WRITE "${GPTOSS_UNIT_OUT}" "${unit}")
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE FILES "${GPTOSS_UNIT_OUT}")
