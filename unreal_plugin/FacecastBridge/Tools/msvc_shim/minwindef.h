// NOT the Windows SDK: wraps MinGW-w64's minwindef.h (see README.md). MinGW defines windows.h's min/max
// macros only for C; the Windows SDK's minwindef.h defines them for C++ too, unless NOMINMAX is defined.
#include_next <minwindef.h>

#ifndef NOMINMAX
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#endif
