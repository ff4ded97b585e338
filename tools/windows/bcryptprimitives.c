/* A stand-in bcryptprimitives.dll for wine 8.0, which lacks it: Rust's std (1.78+) imports
 * ProcessPrng from it to seed HashMap keys and fill random bytes. Implemented on top of
 * RtlGenRandom (advapi32's SystemFunction036), which wine has. Built by tools/windows-test. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance; (void)reason; (void)reserved;
    return TRUE;
}
