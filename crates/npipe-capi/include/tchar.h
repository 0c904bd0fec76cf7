/* <tchar.h> for programs built against npipe on Linux: the generic-text (_t) names of
 * Microsoft's C runtime, mapped to the ANSI (char) functions of the C library, so MSDN-style
 * code (_tmain, _T("..."), _tprintf, _tcslen...) compiles unchanged. It needs no library.
 *
 * npipe departs:
 *   - ANSI only: defining _UNICODE or UNICODE is an error (there is no wide mapping; WCHAR is 16
 *     bits on npipe and wchar_t is 32, so wmain and the wcs* functions would not fit).
 *   - No multibyte (_MBCS) mapping: _tcs* are the byte functions, as in the SBCS mapping.
 *   - _sntprintf and _vsntprintf are C99 snprintf/vsnprintf: they always NUL-terminate and return
 *     the length the whole output needed, where Microsoft's _snprintf leaves the buffer
 *     unterminated and returns -1 on truncation.
 *   - _tcsicmp/_tcsnicmp compare ASCII letters without case (no locale); _tcsdup, _tcsnlen,
 *     _tcsupr and _tcslwr are static inline functions here (_tcsdup's copy is freed with free()).
 */
#ifndef NPIPE_TCHAR_H
#define NPIPE_TCHAR_H

#if defined(_UNICODE) || defined(UNICODE)
#error "npipe's <tchar.h> is ANSI-only (TCHAR is char): build without UNICODE and _UNICODE"
#endif

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef char _TCHAR;
typedef signed char _TSCHAR;
typedef unsigned char _TUCHAR;
typedef unsigned char _TXCHAR;
typedef int _TINT;

#define __T(x) x
#define _T(x) __T(x)
#define _TEXT(x) __T(x)
#define _TEOF EOF

#define _tmain main

/* Formatted I/O */
#define _tprintf printf
#define _ftprintf fprintf
#define _stprintf sprintf
#define _sntprintf snprintf
#define _vtprintf vprintf
#define _vftprintf vfprintf
#define _vstprintf vsprintf
#define _vsntprintf vsnprintf
#define _tscanf scanf
#define _ftscanf fscanf
#define _stscanf sscanf

/* Character and line I/O */
#define _fgettc fgetc
#define _fgetts fgets
#define _fputtc fputc
#define _fputts fputs
#define _gettc getc
#define _gettchar getchar
#define _puttc putc
#define _puttchar putchar
#define _putts puts
#define _ungettc ungetc

/* Files, environment, processes */
#define _tfopen fopen
#define _tfreopen freopen
#define _tremove remove
#define _trename rename
#define _tperror perror
#define _ttmpnam tmpnam
#define _tgetenv getenv
#define _tsystem system
#define _tsetlocale setlocale

/* Conversions */
#define _ttoi atoi
#define _ttol atol
#define _tstoi atoi
#define _tstol atol
#define _tstof atof
#define _tcstod strtod
#define _tcstol strtol
#define _tcstoul strtoul

/* Strings */
#define _tcslen strlen
#define _tcsclen strlen
#define _tcscpy strcpy
#define _tcsncpy strncpy
#define _tcsnccpy strncpy
#define _tcscat strcat
#define _tcsncat strncat
#define _tcsnccat strncat
#define _tcscmp strcmp
#define _tcsncmp strncmp
#define _tcsnccmp strncmp
#define _tcscoll strcoll
#define _tcschr strchr
#define _tcsrchr strrchr
#define _tcsstr strstr
#define _tcsspn strspn
#define _tcscspn strcspn
#define _tcspbrk strpbrk
#define _tcstok strtok
#define _tcsxfrm strxfrm
#define _tcserror strerror
#define _tcsftime strftime
#define _tasctime asctime
#define _tctime ctime
#define _tcsicmp npipe_tcsicmp
#define _tcsnicmp npipe_tcsnicmp
#define _tcsncicmp npipe_tcsnicmp
#define _tcsdup npipe_tcsdup
#define _tcsnlen npipe_tcsnlen
#define _tcsupr npipe_tcsupr
#define _tcslwr npipe_tcslwr

/* Character classes */
#define _istalnum isalnum
#define _istalpha isalpha
#define _istcntrl iscntrl
#define _istdigit isdigit
#define _istgraph isgraph
#define _istlower islower
#define _istprint isprint
#define _istpunct ispunct
#define _istspace isspace
#define _istupper isupper
#define _istxdigit isxdigit
#define _totlower tolower
#define _totupper toupper

static inline int npipe_tchar_fold(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

static inline int npipe_tcsnicmp(const char *a, const char *b, size_t n) {
    for (; n > 0; n--, a++, b++) {
        int ca = npipe_tchar_fold((unsigned char)*a), cb = npipe_tchar_fold((unsigned char)*b);
        if (ca != cb || ca == 0) return ca - cb;
    }
    return 0;
}

static inline int npipe_tcsicmp(const char *a, const char *b) { return npipe_tcsnicmp(a, b, (size_t)-1); }

static inline size_t npipe_tcsnlen(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

static inline char *npipe_tcsdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = (char *)malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static inline char *npipe_tcsupr(char *s) {
    char *p;
    for (p = s; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - ('a' - 'A'));
    return s;
}

static inline char *npipe_tcslwr(char *s) {
    char *p;
    for (p = s; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + ('a' - 'A'));
    return s;
}

#ifdef __cplusplus
}
#endif

#endif /* NPIPE_TCHAR_H */
