# The warning set from STYLE.md; -Werror always (CI and developers alike).
add_compile_options(-Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith
    -Wcast-qual -Wwrite-strings -Wstrict-prototypes -Wmissing-prototypes
    -Wmissing-declarations -Wold-style-definition -Wvla -Wundef
    -Wimplicit-fallthrough -Wnull-dereference)
