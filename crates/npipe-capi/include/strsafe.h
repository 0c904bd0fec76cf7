/* <strsafe.h> for programs built against npipe on Linux: the bounded string functions of the
 * Windows SDK (StringCchCopy, StringCchCat, StringCchPrintf, StringCchLength and their StringCb
 * byte-count twins) as static inline functions over the C library. They return an HRESULT:
 * S_OK, STRSAFE_E_INSUFFICIENT_BUFFER when the result was truncated to fit (the destination
 * then holds the truncated, NUL-terminated string), or STRSAFE_E_INVALID_PARAMETER for a zero
 * or too large size (the destination is then emptied when its size is not zero). Test the
 * result with SUCCEEDED() or FAILED(). Includes <npipe/win32.h> for HRESULT and the string types.
 *
 * npipe departs:
 *   - ANSI only: the A functions and the generic names mapped to them; defining _UNICODE or
 *     UNICODE is an error.
 *   - Only the common functions: no Ex variants (StringCchCopyEx...), no StringCchGets.
 *   - StringCchPrintf formats with the C library's vsnprintf (glibc's conversions: %zu and %lld
 *     work, the Microsoft-only %I64d does not).
 */
#ifndef NPIPE_STRSAFE_H
#define NPIPE_STRSAFE_H

#if defined(_UNICODE) || defined(UNICODE)
#error "npipe's <strsafe.h> is ANSI-only (the A functions): build without UNICODE and _UNICODE"
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "npipe/win32.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRSAFE_MAX_CCH 2147483647
#define STRSAFE_E_INSUFFICIENT_BUFFER ((HRESULT)0x8007007A)
#define STRSAFE_E_INVALID_PARAMETER ((HRESULT)0x80070057)
#define STRSAFE_E_END_OF_FILE ((HRESULT)0x80070026)

typedef char *STRSAFE_LPSTR;
typedef const char *STRSAFE_LPCSTR;

#if defined(__GNUC__) || defined(__clang__)
#define NPIPE_STRSAFE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define NPIPE_STRSAFE_PRINTF(fmt, args)
#endif

/* Copies at most cchSrc characters of pszSrc (stopping at its NUL) into pszDest of cchDest
 * characters, always NUL-terminating; truncation gives STRSAFE_E_INSUFFICIENT_BUFFER. */
static inline HRESULT npipe_strsafe_copy(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc, size_t cchSrc) {
    if (cchDest == 0 || cchDest > STRSAFE_MAX_CCH) return STRSAFE_E_INVALID_PARAMETER;
    while (cchDest > 1 && cchSrc > 0 && *pszSrc != '\0') {
        *pszDest++ = *pszSrc++;
        cchDest--;
        cchSrc--;
    }
    *pszDest = '\0';
    return (cchSrc > 0 && *pszSrc != '\0') ? STRSAFE_E_INSUFFICIENT_BUFFER : S_OK;
}

/* The length of psz if it is NUL-terminated within cchMax characters. */
static inline HRESULT npipe_strsafe_length(STRSAFE_LPCSTR psz, size_t cchMax, size_t *pcchLength) {
    size_t n = 0;
    HRESULT hr = S_OK;
    if (psz == NULL || cchMax > STRSAFE_MAX_CCH) {
        hr = STRSAFE_E_INVALID_PARAMETER;
    } else {
        while (n < cchMax && psz[n] != '\0') n++;
        if (n == cchMax) hr = STRSAFE_E_INVALID_PARAMETER;
    }
    if (pcchLength) *pcchLength = SUCCEEDED(hr) ? n : 0;
    return hr;
}

static inline HRESULT npipe_strsafe_cat(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc, size_t cchSrc) {
    size_t len;
    HRESULT hr;
    if (cchDest == 0 || cchDest > STRSAFE_MAX_CCH) return STRSAFE_E_INVALID_PARAMETER;
    hr = npipe_strsafe_length(pszDest, cchDest, &len);
    if (FAILED(hr)) return hr;
    return npipe_strsafe_copy(pszDest + len, cchDest - len, pszSrc, cchSrc);
}

static inline HRESULT npipe_strsafe_vprintf(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszFormat,
                                            va_list argList) {
    int n;
    if (cchDest == 0 || cchDest > STRSAFE_MAX_CCH) {
        if (cchDest != 0) *pszDest = '\0';
        return STRSAFE_E_INVALID_PARAMETER;
    }
    n = vsnprintf(pszDest, cchDest, pszFormat, argList);
    if (n < 0 || (size_t)n >= cchDest) {
        pszDest[cchDest - 1] = '\0';
        return STRSAFE_E_INSUFFICIENT_BUFFER;
    }
    return S_OK;
}

/* Character counts (Cch) */

static inline HRESULT StringCchCopyA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc) {
    HRESULT hr = npipe_strsafe_copy(pszDest, cchDest, pszSrc, STRSAFE_MAX_CCH);
    if (hr == STRSAFE_E_INVALID_PARAMETER && cchDest != 0) *pszDest = '\0';
    return hr;
}

static inline HRESULT StringCchCopyNA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc, size_t cchToCopy) {
    HRESULT hr = cchToCopy > STRSAFE_MAX_CCH ? STRSAFE_E_INVALID_PARAMETER
                                             : npipe_strsafe_copy(pszDest, cchDest, pszSrc, cchToCopy);
    if (hr == STRSAFE_E_INVALID_PARAMETER && cchDest != 0) *pszDest = '\0';
    return hr;
}

static inline HRESULT StringCchCatA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc) {
    return npipe_strsafe_cat(pszDest, cchDest, pszSrc, STRSAFE_MAX_CCH);
}

static inline HRESULT StringCchCatNA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc, size_t cchToAppend) {
    if (cchToAppend > STRSAFE_MAX_CCH) return STRSAFE_E_INVALID_PARAMETER;
    return npipe_strsafe_cat(pszDest, cchDest, pszSrc, cchToAppend);
}

static inline HRESULT StringCchVPrintfA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszFormat,
                                        va_list argList) {
    return npipe_strsafe_vprintf(pszDest, cchDest, pszFormat, argList);
}

NPIPE_STRSAFE_PRINTF(3, 4)
static inline HRESULT StringCchPrintfA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszFormat, ...) {
    HRESULT hr;
    va_list argList;
    va_start(argList, pszFormat);
    hr = npipe_strsafe_vprintf(pszDest, cchDest, pszFormat, argList);
    va_end(argList);
    return hr;
}

static inline HRESULT StringCchLengthA(STRSAFE_LPCSTR psz, size_t cchMax, size_t *pcchLength) {
    return npipe_strsafe_length(psz, cchMax, pcchLength);
}

/* Byte counts (Cb): the same, sized in bytes (sizeof(char) is 1). */

static inline HRESULT StringCbCopyA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc) {
    return StringCchCopyA(pszDest, cbDest / sizeof(char), pszSrc);
}

static inline HRESULT StringCbCopyNA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc, size_t cbToCopy) {
    return StringCchCopyNA(pszDest, cbDest / sizeof(char), pszSrc, cbToCopy / sizeof(char));
}

static inline HRESULT StringCbCatA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc) {
    return StringCchCatA(pszDest, cbDest / sizeof(char), pszSrc);
}

static inline HRESULT StringCbCatNA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc, size_t cbToAppend) {
    return StringCchCatNA(pszDest, cbDest / sizeof(char), pszSrc, cbToAppend / sizeof(char));
}

static inline HRESULT StringCbVPrintfA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszFormat,
                                       va_list argList) {
    return npipe_strsafe_vprintf(pszDest, cbDest / sizeof(char), pszFormat, argList);
}

NPIPE_STRSAFE_PRINTF(3, 4)
static inline HRESULT StringCbPrintfA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszFormat, ...) {
    HRESULT hr;
    va_list argList;
    va_start(argList, pszFormat);
    hr = npipe_strsafe_vprintf(pszDest, cbDest / sizeof(char), pszFormat, argList);
    va_end(argList);
    return hr;
}

static inline HRESULT StringCbLengthA(STRSAFE_LPCSTR psz, size_t cbMax, size_t *pcbLength) {
    size_t cch = 0;
    HRESULT hr = npipe_strsafe_length(psz, cbMax / sizeof(char), &cch);
    if (pcbLength) *pcbLength = cch * sizeof(char);
    return hr;
}

#define StringCchCopy StringCchCopyA
#define StringCchCopyN StringCchCopyNA
#define StringCchCat StringCchCatA
#define StringCchCatN StringCchCatNA
#define StringCchPrintf StringCchPrintfA
#define StringCchVPrintf StringCchVPrintfA
#define StringCchLength StringCchLengthA
#define StringCbCopy StringCbCopyA
#define StringCbCopyN StringCbCopyNA
#define StringCbCat StringCbCatA
#define StringCbCatN StringCbCatNA
#define StringCbPrintf StringCbPrintfA
#define StringCbVPrintf StringCbVPrintfA
#define StringCbLength StringCbLengthA

#ifdef __cplusplus
}
#endif

#endif /* NPIPE_STRSAFE_H */
