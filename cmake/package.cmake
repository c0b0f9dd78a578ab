# The Debian package (README "Debian package and systemd"): `cpack -G DEB` in a build tree writes
# inboxd_<project version>_<arch>.deb with
#   /usr/bin/inboxd                       the binary of this build tree (stripped)
#   /lib/systemd/system/inboxd.service    packaging/inboxd.service
#   /etc/inboxd/inboxd.env                packaging/inboxd.env, a conffile, mode 0640
#   /usr/share/doc/inboxd/                copyright, README.md
# and the maintainer scripts packaging/{postinst,prerm,postrm} (enable, start, restart, stop, as
# dh_installsystemd does). Depends is computed by dpkg-shlibdeps (dpkg-dev) from the libraries
# the binary links, so it follows the build: a Release build with jemalloc depends on
# libjemalloc2, a sanitizer build (what tests/package/package_test.sh packages) on libasan8.
# packaging/build_deb.sh makes the Release package.

set(INBOXD_PACKAGING_DIR ${CMAKE_SOURCE_DIR}/packaging)

# Paths under /usr are relative to CPACK_PACKAGING_INSTALL_PREFIX; /etc and /lib are absolute.
install(TARGETS inboxd RUNTIME DESTINATION bin)
install(FILES ${INBOXD_PACKAGING_DIR}/inboxd.service DESTINATION /lib/systemd/system)
install(FILES ${INBOXD_PACKAGING_DIR}/inboxd.env DESTINATION /etc/inboxd
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${INBOXD_PACKAGING_DIR}/copyright ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION share/doc/inboxd)

set(INBOXD_PACKAGE_MAINTAINER "inboxd maintainers <root@localhost>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME inboxd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WhatsApp shared-inbox backend")
set(CPACK_PACKAGE_DESCRIPTION
    "Ingests WhatsApp Business webhooks (Meta Cloud API or Kapso), keeps each workspace's contacts,
conversations and messages in Redis and serves them over a REST API, with a systemd service.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # inboxd_<version>_<arch>.deb (no Debian revision)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${INBOXD_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS redis-server)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${INBOXD_PACKAGING_DIR}/conffiles ${INBOXD_PACKAGING_DIR}/postinst
    ${INBOXD_PACKAGING_DIR}/prerm ${INBOXD_PACKAGING_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_THREADS 0) # xz on every core
include(CPack)
