// NOT libstdc++: wraps MinGW-w64 libstdc++'s bits/os_defines.h (see ../README.md). That header defines
// NOMINMAX so that windows.h never defines min/max macros; MSVC's library does no such thing. Keep every
// other setting, and NOMINMAX only if the code defined it before its first standard header.
#ifndef FACECAST_MSVC_SHIM_OS_DEFINES
#define FACECAST_MSVC_SHIM_OS_DEFINES
#ifdef NOMINMAX
#include_next <bits/os_defines.h>
#else
#include_next <bits/os_defines.h>
#undef NOMINMAX
#endif
#endif
