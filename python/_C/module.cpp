// pufferlib._C: thin nanobind glue. Loads env libraries (dlopen) and exposes their vector
// env buffers to Python as numpy views with no copies. Logic stays in C and Python.
#include <dlfcn.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "env_abi.h"

namespace nb = nanobind;

struct EnvLibrary {
    void* handle = nullptr;
    const PufferEnvInfo* (*info)(void) = nullptr;
    int (*agents)(const PufferVecSpec*, char*, size_t) = nullptr;
    PufferVec* (*create)(const PufferVecSpec*, char*, size_t) = nullptr;
    void (*reset)(PufferVec*, uint64_t) = nullptr;
    void (*step)(PufferVec*) = nullptr;
    void (*step_buffer)(PufferVec*, int) = nullptr;
    int (*check_actions)(const PufferVec*, char*, size_t) = nullptr;
    void (*log)(PufferVec*, PufferLogOut*, int) = nullptr;
    int (*render)(PufferVec*, int, char*, size_t) = nullptr;
    int (*save_frame)(PufferVec*, const char*, char*, size_t) = nullptr;
    int (*window_closed)(PufferVec*) = nullptr;
    void (*close)(PufferVec*) = nullptr;

    explicit EnvLibrary(const std::string& path) {
        handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) throw std::runtime_error("cannot load env library " + path + ": " + dlerror());
        load(info, "puffer_env_info");
        load(agents, "puffer_env_agents");
        load(create, "puffer_vec_create");
        load(reset, "puffer_vec_reset");
        load(step, "puffer_vec_step");
        load(step_buffer, "puffer_vec_step_buffer");
        load(check_actions, "puffer_vec_check_actions");
        load(log, "puffer_vec_log");
        load(render, "puffer_vec_render");
        load(save_frame, "puffer_vec_save_frame");
        load(window_closed, "puffer_vec_window_closed");
        load(close, "puffer_vec_close");
        if (info()->abi_version != PUFFER_ENV_ABI_VERSION)
            throw std::runtime_error(path + ": env ABI version " + std::to_string(info()->abi_version) +
                                     ", this module needs " + std::to_string(PUFFER_ENV_ABI_VERSION) +
                                     " (rebuild with pip install .)");
    }
    template <typename F> void load(F& fn, const char* name) {
        fn = reinterpret_cast<F>(dlsym(handle, name));
        if (!fn) throw std::runtime_error(std::string("env library lacks symbol ") + name);
    }
    // The library stays loaded for the life of the process: env code may have registered
    // raylib/OpenMP state that outlives a VecEnv.
};

class VecEnv {
  public:
    VecEnv(const std::string& path, int total_agents, int num_buffers, int num_threads,
           uint64_t seed, const std::vector<std::string>& keys, const std::vector<double>& values)
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
    void reset(uint64_t seed) { lib_->reset(get(), seed); }
    void step() {
        nb::gil_scoped_release release;
        lib_->step(get());
    }
    void step_buffer(int buffer) {
        PufferVec* v = get();
        if (buffer < 0 || buffer >= v->num_buffers)
            throw std::out_of_range("buffer " + std::to_string(buffer) + " out of range [0, " +
                                    std::to_string(v->num_buffers) + ")");
        nb::gil_scoped_release release;
        lib_->step_buffer(v, buffer);
    }
    void check_actions() {
        char err[PUFFER_ERR_LEN] = {0};
        if (lib_->check_actions(get(), err, sizeof(err))) throw std::invalid_argument(err);
    }
    nb::dict log(bool clear) {
        PufferLogOut out;
        lib_->log(get(), &out, clear ? 1 : 0);
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

  private:
    EnvLibrary* lib_;  // intentionally never freed (see EnvLibrary)
};

static int agents_per_env(const std::string& path, const std::vector<std::string>& keys,
                          const std::vector<double>& values) {
    EnvLibrary lib(path);
    std::vector<const char*> key_ptrs;
    for (const auto& k : keys) key_ptrs.push_back(k.c_str());
    PufferVecSpec spec = {1, 1, 1, 0, (int)keys.size(), key_ptrs.data(), values.data(), nullptr};
    char err[PUFFER_ERR_LEN] = {0};
    int n = lib.agents(&spec, err, sizeof(err));
    if (n < 1) throw std::invalid_argument(err);
    return n;
}

static nb::dict library_info(const std::string& path) {
    EnvLibrary lib(path);
    const PufferEnvInfo* info = lib.info();
    nb::dict d;
    d["name"] = std::string(info->name);
    d["obs_size"] = info->obs_size;
    d["obs_dtype"] = info->obs_dtype == PUFFER_OBS_U8 ? "uint8" : "float32";
    d["num_atns"] = info->num_atns;
    d["act_sizes"] = std::vector<int>(info->act_sizes, info->act_sizes + info->num_atns);
    d["render"] = info->render != 0;
    return d;
}

NB_MODULE(_C, m) {
    m.doc() = "PufferLib native module: env libraries and the native trainer";
    m.attr("has_cuda") = (bool)PUFFER_HAS_CUDA;
    m.attr("precision_bytes") = PUFFER_FLOAT_BUILD ? 4 : 2;
    m.def("library_info", &library_info, nb::arg("path"),
          "Metadata (obs size/dtype, action heads) of an env library");

    m.def("agents_per_env", &agents_per_env, nb::arg("path"), nb::arg("keys"), nb::arg("values"),
          "Agents in one env of this library with these [env] kwargs");

    nb::class_<VecEnv>(m, "VecEnv")
        .def(nb::init<const std::string&, int, int, int, uint64_t, const std::vector<std::string>&,
                      const std::vector<double>&>(),
             nb::arg("path"), nb::arg("total_agents"), nb::arg("num_buffers"), nb::arg("num_threads"),
             nb::arg("seed"), nb::arg("keys"), nb::arg("values"))
        .def("reset", &VecEnv::reset, nb::arg("seed"))
        .def("step", &VecEnv::step)
        .def("step_buffer", &VecEnv::step_buffer, nb::arg("buffer"))
        .def("check_actions", &VecEnv::check_actions)
        .def("log", &VecEnv::log, nb::arg("clear") = true)
        .def("render", &VecEnv::render, nb::arg("env_index") = 0)
        .def("save_frame", &VecEnv::save_frame, nb::arg("path"))
        .def("window_closed", &VecEnv::window_closed)
        .def("close", &VecEnv::close)
        .def_prop_ro("observations", [](nb::handle self) { return nb::cast<VecEnv&>(self).observations(self); })
        .def_prop_ro("actions", [](nb::handle self) { return nb::cast<VecEnv&>(self).actions(self); })
        .def_prop_ro("rewards", [](nb::handle self) {
            VecEnv& v = nb::cast<VecEnv&>(self);
            return v.row(v.get()->rewards, self);
        })
        .def_prop_ro("terminals", [](nb::handle self) {
            VecEnv& v = nb::cast<VecEnv&>(self);
            return v.row(v.get()->terminals, self);
        })
        .def_prop_ro("truncations", [](nb::handle self) {
            VecEnv& v = nb::cast<VecEnv&>(self);
            return v.row(v.get()->truncations, self);
        })
        .def_prop_ro("total_agents", [](VecEnv& v) { return v.get()->total_agents; })
        .def_prop_ro("num_envs", [](VecEnv& v) { return v.get()->num_envs; })
        .def_prop_ro("num_buffers", [](VecEnv& v) { return v.get()->num_buffers; })
        .def_prop_ro("env_agent_start", [](VecEnv& v) {
            PufferVec* p = v.get();
            return v.ints(p->env_agent_start, p->num_envs + 1);
        })
        .def_prop_ro("buffer_agent_start", [](VecEnv& v) {
            PufferVec* p = v.get();
            return v.ints(p->buffer_agent_start, p->num_buffers + 1);
        })
        .def_prop_ro("closed", [](VecEnv& v) { return v.vec_ == nullptr; });
}
