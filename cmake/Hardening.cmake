# Release hardening: fortify, stack protector, PIE, full RELRO, no exec stack.
# Sanitizer and fuzz builds skip it (FORTIFY and ASan do not mix).
if(PETREL_HARDEN AND NOT PETREL_SANITIZE AND NOT PETREL_FUZZ)
  add_compile_options(-O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
      -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE)
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-ftrivial-auto-var-init=zero)
  endif()
  add_link_options(-pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack)
endif()
