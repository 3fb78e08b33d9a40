#ifndef RUNTIME_PROXY_CLLHTTP_SHIM_H
#define RUNTIME_PROXY_CLLHTTP_SHIM_H
#include <llhttp.h>
#endif
