// vecenv_py.h: the env-library loader and VecEnv class shared by the module's bindings
// (module.cpp binds them; the native trainer binding takes a VecEnv and steps it directly).
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "env_loader.h"

namespace nb = nanobind;

// The env library's C ABI, resolved by envs/env_loader.c.
struct EnvLibrary : PufferEnvLib {
    explicit EnvLibrary(const std::string& path) {
        char err[PUFFER_ERR_LEN] = {0};
        if (puffer_env_lib_open(this, path.c_str(), err, sizeof(err))) throw std::runtime_error(err);
    }
};

class VecEnv {
  public:
    // gpu_id >= 0: the envs step on that GPU (the library must be an env's CUDA variant).
    VecEnv(const std::string& path, int total_agents, int num_buffers, int num_threads,
           uint64_t seed, const std::vector<std::string>& keys, const std::vector<double>& values,
           int gpu_id)
        : lib_(new EnvLibrary(path)) {
        if (keys.size() != values.size()) throw std::invalid_argument("kwarg keys/values differ in length");
        std::vector<const char*> key_ptrs;
        for (const auto& k : keys) key_ptrs.push_back(k.c_str());
        PufferVecSpec spec = {total_agents, num_buffers, num_threads, seed, (int)keys.size(),
                              key_ptrs.data(), values.data(), nullptr};
        char err[PUFFER_ERR_LEN] = {0};
        vec_ = lib_->create(&spec, err, sizeof(err));
        if (!vec_) throw std::invalid_argument(err);
        info_ = lib_->info();
        if (gpu_id >= 0) {
            if (!lib_->to_device) {
                close();
                throw std::invalid_argument(path + " is not a CUDA build of the env: no device stepping");
            }
            if (lib_->to_device(vec_, gpu_id, err, sizeof(err))) {
                close();
                throw std::runtime_error(err);
            }
        }
    }
    // A device vec's void calls report CUDA failures afterwards.
    void check_device() {
        char err[PUFFER_ERR_LEN] = {0};
        if (vec_ && vec_->device && lib_->device_error(vec_, err, sizeof(err))) throw std::runtime_error(err);
    }
    ~VecEnv() { close(); }

    void close() {
        if (vec_) lib_->close(vec_);
        vec_ = nullptr;
    }
    PufferVec* get() const {
        if (!vec_) throw std::runtime_error("the vec env is closed");
        return vec_;
    }
    void reset(uint64_t seed) {
        lib_->reset(get(), seed);
        check_device();
    }
    void step() {
        PufferVec* v = get();
        {
            nb::gil_scoped_release release;
            lib_->step(v);
        }
        check_device();
    }
    void step_buffer(int buffer) {
        PufferVec* v = get();
        if (buffer < 0 || buffer >= v->num_buffers)
            throw std::out_of_range("buffer " + std::to_string(buffer) + " out of range [0, " +
                                    std::to_string(v->num_buffers) + ")");
        {
            nb::gil_scoped_release release;
            lib_->step_buffer(v, buffer);
        }
        check_device();
    }
    void check_actions() {
        char err[PUFFER_ERR_LEN] = {0};
        if (lib_->check_actions(get(), err, sizeof(err))) throw std::invalid_argument(err);
    }
    nb::dict log(bool clear) {
        PufferLogOut out;
        lib_->log(get(), &out, clear ? 1 : 0);
        check_device();
        nb::dict d;
        for (int i = 0; i < out.count; i++) d[out.keys[i]] = out.values[i];
        return d;
    }
    void render(int env_index) {
        char err[PUFFER_ERR_LEN] = {0};
        if (lib_->render(get(), env_index, err, sizeof(err))) throw std::runtime_error(err);
    }
    void save_frame(const std::string& path) {
        char err[PUFFER_ERR_LEN] = {0};
        if (lib_->save_frame(get(), path.c_str(), err, sizeof(err))) throw std::runtime_error(err);
    }
    bool window_closed() { return lib_->window_closed(get()) != 0; }
    double bench_device(int graphs) {
        PufferVec* v = get();
        if (!v->device) throw std::invalid_argument("bench_device needs a vec made with device='cuda'");
        double seconds;
        {
            nb::gil_scoped_release release;
            seconds = lib_->bench_device(v, graphs);
        }
        check_device();
        if (seconds < 0) throw std::runtime_error("bench_device failed");
        return seconds;
    }
    int capture_key() { return lib_->capture_key(get()); }

    // Zero-copy views; `self` keeps the VecEnv (and so the memory) alive.
    nb::object observations(nb::handle self) {
        PufferVec* v = get();
        size_t shape[2] = {(size_t)v->total_agents, (size_t)info_->obs_size};
        if (info_->obs_dtype == PUFFER_OBS_U8)
            return nb::cast(nb::ndarray<nb::numpy, uint8_t, nb::ndim<2>>(
                (uint8_t*)v->observations, 2, shape, self));
        return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<2>>((float*)v->observations, 2, shape, self));
    }
    nb::object actions(nb::handle self) {
        PufferVec* v = get();
        size_t shape[2] = {(size_t)v->total_agents, (size_t)info_->num_atns};
        return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<2>>(v->actions, 2, shape, self));
    }
    nb::object row(float* data, nb::handle self) {
        size_t shape[1] = {(size_t)get()->total_agents};
        return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<1>>(data, 1, shape, self));
    }
    std::vector<int> ints(const int* p, int n) { return std::vector<int>(p, p + n); }

    const PufferEnvInfo* info_ = nullptr;
    PufferVec* vec_ = nullptr;

    EnvLibrary* lib_;  // intentionally never freed (see EnvLibrary)
};

