// arena.h: "register, then allocate once" (reference 2.2, DESIGN.md "Memory").
//
// Each trainer has three arenas: weights, grads and activations. At init every tensor registers
// with one of them (pa_register records where the tensor struct lives and advances a running
// offset); pa_create then makes ONE allocation (aligned host malloc or cudaMalloc, through the
// allocator passed in), zeroes it, and writes each tensor's data pointer. Nothing is allocated
// after that, and nothing is freed until the trainer is destroyed.
//
// A "flat" arena (weights, grads) holds tensors of one dtype whose offsets are rounded to a fixed
// number of ELEMENTS (not bytes), so that the same element offsets describe the bf16 parameters,
// their gradients, the fp32 master copy and the fp32 momentum: one kernel can clip, update or cast
// the whole arena as a single flat vector, and the padding between tensors stays zero.
#ifndef PUFFER_ARENA_H
#define PUFFER_ARENA_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    void* (*alloc)(size_t bytes, void* ctx);  // NULL on failure
    void (*free)(void* ptr, void* ctx);
    void* ctx;
} PAllocator;

typedef struct {
    const char* name;
    PTensor** tensors;   // registered tensor structs (their data field is written by create)
    size_t* offsets;     // byte offset of each
    int count, capacity;
    size_t bytes;        // running total, then the allocation size
    int flat_dtype;      // -1: mixed dtypes, byte alignment; else the only dtype allowed
    int64_t align;       // bytes (mixed) or elements (flat)
    void* base;
    PAllocator allocator;
    int failed;          // out of memory while registering
} PArena;

// Host memory: 64-byte aligned, zeroed by pa_create.
PAllocator pa_host_allocator(void);

void pa_init(PArena* a, const char* name);
// Flat arena of one dtype: every tensor starts at a multiple of align_elems elements.
void pa_init_flat(PArena* a, const char* name, int dtype, int64_t align_elems);
// Registers t (its dtype and shape must be final). Returns 0, or -1 for a dtype that a flat
// arena does not allow / out of memory (also remembered in a->failed).
int pa_register(PArena* a, PTensor* t);
// Element offset of registration i in a flat arena.
int64_t pa_elem_offset(const PArena* a, int i);
// Total elements of a flat arena, padding included (its flat view's length).
int64_t pa_flat_numel(const PArena* a);
// One allocation, zeroed by `zero` (NULL: memset, host memory), data pointers written.
int pa_create(PArena* a, PAllocator allocator, int (*zero)(void* ptr, size_t bytes, void* ctx));
void pa_destroy(PArena* a);

#ifdef __cplusplus
}
#endif
#endif
