// env_loader.c: see env_loader.h.
#include "env_loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int resolve(void* handle, void** fn, const char* name, const char* path, char* err, size_t len) {
    *fn = dlsym(handle, name);
    if (*fn == NULL) {
        snprintf(err, len, "env library %s lacks symbol %s (rebuild with pip install .)", path, name);
        return 1;
    }
    return 0;
}

int puffer_env_lib_open(PufferEnvLib* lib, const char* path, char* err, size_t len) {
    memset(lib, 0, sizeof(*lib));
    lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib->handle == NULL) {
        snprintf(err, len, "cannot load env library %s: %s", path, dlerror());
        return 1;
    }
    struct { void** fn; const char* name; } symbols[] = {
        {(void**)&lib->info, "puffer_env_info"},
        {(void**)&lib->agents, "puffer_env_agents"},
        {(void**)&lib->create, "puffer_vec_create"},
        {(void**)&lib->reset, "puffer_vec_reset"},
        {(void**)&lib->step, "puffer_vec_step"},
        {(void**)&lib->step_buffer, "puffer_vec_step_buffer"},
        {(void**)&lib->check_actions, "puffer_vec_check_actions"},
        {(void**)&lib->log, "puffer_vec_log"},
        {(void**)&lib->render, "puffer_vec_render"},
        {(void**)&lib->save_frame, "puffer_vec_save_frame"},
        {(void**)&lib->window_closed, "puffer_vec_window_closed"},
        {(void**)&lib->capture_key, "puffer_vec_capture_key"},
        {(void**)&lib->close, "puffer_vec_close"},
    };
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        if (resolve(lib->handle, symbols[i].fn, symbols[i].name, path, err, len)) return 1;
    }
    *(void**)&lib->to_device = dlsym(lib->handle, "puffer_vec_to_device");
    *(void**)&lib->device_buffers = dlsym(lib->handle, "puffer_vec_device_buffers");
    *(void**)&lib->step_device = dlsym(lib->handle, "puffer_vec_step_device");
    *(void**)&lib->device_error = dlsym(lib->handle, "puffer_vec_device_error");
    *(void**)&lib->bench_device = dlsym(lib->handle, "puffer_vec_bench_device");
    int version = lib->info()->abi_version;
    if (version != PUFFER_ENV_ABI_VERSION) {
        snprintf(err, len, "%s: env ABI version %d, this build needs %d (rebuild with pip install .)",
                 path, version, PUFFER_ENV_ABI_VERSION);
        return 1;
    }
    return 0;
}
