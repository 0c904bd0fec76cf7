/* Runs the <strsafe.h>, <tchar.h> and lstr* helpers through their edge cases (exact fit,
 * truncation, zero and oversized sizes, unterminated destinations) and prints one line per
 * result. Built with mingw-w64 and run under Wine it prints what Windows prints; tests/samples.rs
 * builds it against npipe's headers (no library needed) and compares the two transcripts. */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

static void show(LPCTSTR what, HRESULT hr, LPCTSTR buf) {
    _tprintf(TEXT("%-28s hr=0x%08lx %s"), what, (unsigned long)(DWORD)hr,
             SUCCEEDED(hr) ? TEXT("ok  ") : TEXT("fail"));
    if (buf) _tprintf(TEXT(" \"%s\""), buf);
    _tprintf(TEXT("\n"));
}

static int sign(int v) { return v < 0 ? -1 : v > 0 ? 1 : 0; }

int _tmain(void) {
    TCHAR buf[16];
    size_t cch;
    HRESULT hr;
    LPTSTR dup;

    hr = StringCchCopy(buf, 8, TEXT("hello"));
    show(TEXT("Copy fits"), hr, buf);
    hr = StringCchCopy(buf, 6, TEXT("hello"));
    show(TEXT("Copy exact fit"), hr, buf);
    hr = StringCchCopy(buf, 5, TEXT("hello"));
    show(TEXT("Copy truncated"), hr, buf);
    hr = StringCchCopy(buf, 1, TEXT("hello"));
    show(TEXT("Copy into 1"), hr, buf);
    StringCchCopy(buf, 16, TEXT("keep"));
    hr = StringCchCopy(buf, 0, TEXT("x"));
    show(TEXT("Copy into 0"), hr, buf);
    hr = StringCchCopy(buf, (size_t)STRSAFE_MAX_CCH + 1, TEXT("x"));
    show(TEXT("Copy too large"), hr, NULL);
    hr = StringCchCopyN(buf, 8, TEXT("hello"), 3);
    show(TEXT("CopyN 3"), hr, buf);
    hr = StringCchCopyN(buf, 3, TEXT("hello"), 3);
    show(TEXT("CopyN 3 into 3"), hr, buf);
    hr = StringCbCopy(buf, 4 * sizeof(TCHAR), TEXT("hello"));
    show(TEXT("CbCopy truncated"), hr, buf);

    StringCchCopy(buf, 16, TEXT("abc"));
    hr = StringCchCat(buf, 8, TEXT("defg"));
    show(TEXT("Cat exact fit"), hr, buf);
    hr = StringCchCat(buf, 8, TEXT("h"));
    show(TEXT("Cat full"), hr, buf);
    hr = StringCchCat(buf, 3, TEXT("h"));
    show(TEXT("Cat unterminated dest"), hr, NULL);
    StringCchCopy(buf, 16, TEXT("ab"));
    hr = StringCchCatN(buf, 16, TEXT("cdef"), 2);
    show(TEXT("CatN 2"), hr, buf);
    hr = StringCbCat(buf, 6 * sizeof(TCHAR), TEXT("xyz"));
    show(TEXT("CbCat truncated"), hr, buf);

    hr = StringCchPrintf(buf, 10, TEXT("%d-%s"), 12, TEXT("abc"));
    show(TEXT("Printf fits"), hr, buf);
    hr = StringCchPrintf(buf, 7, TEXT("%d-%s"), 12, TEXT("abc"));
    show(TEXT("Printf exact fit"), hr, buf);
    hr = StringCchPrintf(buf, 8, TEXT("%d-%s"), 12, TEXT("abcdef"));
    show(TEXT("Printf truncated"), hr, buf);
    StringCchCopy(buf, 16, TEXT("keep"));
    hr = StringCchPrintf(buf, 0, TEXT("%d"), 1);
    show(TEXT("Printf into 0"), hr, buf);
    hr = StringCbPrintf(buf, 5 * sizeof(TCHAR), TEXT("#%lu of %lu"), 1UL, 2UL);
    show(TEXT("CbPrintf truncated"), hr, buf);

    cch = 99;
    hr = StringCchLength(TEXT("hello"), 6, &cch);
    _tprintf(TEXT("Length 6: hr=0x%08lx cch=%lu\n"), (unsigned long)(DWORD)hr, (unsigned long)cch);
    cch = 99;
    hr = StringCchLength(TEXT("hello"), 5, &cch);
    _tprintf(TEXT("Length 5: hr=0x%08lx cch=%lu\n"), (unsigned long)(DWORD)hr, (unsigned long)cch);
    cch = 99;
    hr = StringCchLength(NULL, 5, &cch);
    _tprintf(TEXT("Length NULL: hr=0x%08lx cch=%lu\n"), (unsigned long)(DWORD)hr, (unsigned long)cch);
    cch = 99;
    hr = StringCbLength(TEXT("hello"), 16, &cch);
    _tprintf(TEXT("CbLength 16: hr=0x%08lx cb=%lu\n"), (unsigned long)(DWORD)hr, (unsigned long)cch);

    _tprintf(TEXT("lstrlen: %d %d\n"), lstrlen(TEXT("hello")), lstrlen(NULL));
    lstrcpyn(buf, TEXT("abcdef"), 4);
    _tprintf(TEXT("lstrcpyn 4: \"%s\"\n"), buf);
    _tprintf(TEXT("lstrcmpi: %d %d %d\n"), sign(lstrcmpi(TEXT("abc"), TEXT("ABD"))),
             sign(lstrcmpi(TEXT("ABC"), TEXT("abc"))), sign(lstrcmpi(TEXT("abcd"), TEXT("ABC"))));
    _tprintf(TEXT("lstrcmp: %d %d %d\n"), sign(lstrcmp(TEXT("abc"), TEXT("abd"))), sign(lstrcmp(TEXT("abc"), TEXT("abc"))),
             sign(lstrcmp(TEXT("abcd"), TEXT("abc"))));
    dup = _tcsdup(_T("MiXeD"));
    _tprintf(_T("_tcsicmp: %d %d, _tcsnicmp: %d, _tcslen: %d, _ttoi: %d\n"), sign(_tcsicmp(dup, _T("mixed"))),
             sign(_tcsicmp(dup, _T("mixes"))), sign(_tcsnicmp(dup, _T("MIXER"), 4)), (int)_tcslen(dup), _ttoi(_T("-17")));
    free(dup);
    return 0;
}
