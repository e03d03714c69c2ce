# ASan + UBSan build used by `make check` for every unit and integration test.
if(PETREL_SANITIZE)
  add_compile_options(-O1 -g -fsanitize=address,undefined
      -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
if(PETREL_FUZZ)
  add_compile_options(-O1 -g -fsanitize=address,undefined,fuzzer-no-link
      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
