// trainer.cpp: nanobind glue for the native trainer (core/trainer.h). Converts only: the config
// dict to the C config, numpy arrays in and out (copies: the trainer owns its memory), errors to
// Python exceptions. The trainer keeps the VecEnv alive (keep_alive) and steps it directly.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainer.h"
#include "vecenv_py.h"

namespace {

using FloatArray = nb::ndarray<nb::numpy, float, nb::c_contig>;
using U64Array = nb::ndarray<nb::numpy, uint64_t, nb::c_contig>;

template <typename T>
nb::object owned_array(std::vector<T>&& data, std::initializer_list<size_t> shape) {
    auto* heap = new std::vector<T>(std::move(data));
    nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
    return nb::cast(nb::ndarray<nb::numpy, T>(heap->data(), shape.size(), shape.begin(), owner));
}

// Host all-reduce through a Python callable f(array): the callable replaces the float32 array's
// contents by the mean over ranks (e.g. torch.distributed with gloo).
struct PyAllReduce {
    nb::object fn;
    std::string error;

    static int call(float* data, int64_t n, void* ctx) {
        auto* self = static_cast<PyAllReduce*>(ctx);
        nb::gil_scoped_acquire gil;
        try {
            size_t shape[1] = {(size_t)n};
            nb::ndarray<nb::numpy, float, nb::ndim<1>> view(data, 1, shape, nb::handle());
            // rv_policy::reference: a view of the trainer's gradients, not a copy
            self->fn(nb::cast(view, nb::rv_policy::reference));
            return 0;
        } catch (const std::exception& e) {
            self->error = e.what();
            return 1;
        }
    }
};

class NativeTrainer {
  public:
    NativeTrainer(VecEnv& vec, nb::dict config, const std::string& device, int rank,
                  int world_size, nb::object nccl_id, nb::object allreduce)
        : vec_(&vec) {
        char err[1024] = {0};
        PufferTrainerConfig cfg;
        puffer_config_defaults(&cfg);
        for (auto item : config) {
            std::string key = nb::cast<std::string>(nb::str(item.first));
            double value;
            try {
                value = nb::cast<double>(item.second);
            } catch (const std::exception&) {
                throw std::invalid_argument("native trainer config '" + key + "' must be a number");
            }
            if (puffer_config_set(&cfg, key.c_str(), value, err, sizeof(err)) != 0)
                throw std::invalid_argument(err);
        }
        cfg.rank = rank;
        cfg.world_size = world_size;
        int dev;
        if (device == "cpu") dev = PUFFER_DEVICE_CPU;
        else if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
            dev = PUFFER_DEVICE_CUDA;
            if (device.size() > 5) cfg.gpu_id = std::stoi(device.substr(5));
        } else throw std::invalid_argument("device must be 'cpu' or 'cuda', got '" + device + "'");

        std::string id;
        if (!nccl_id.is_none()) {
            id = std::string(nb::cast<nb::bytes>(nccl_id).c_str(), nb::cast<nb::bytes>(nccl_id).size());
            if (id.size() != 128) throw std::invalid_argument("nccl_id must be 128 bytes");
        }
        PufferAllReduceFn reduce = nullptr;
        if (!allreduce.is_none()) {
            reduce_.fn = allreduce;
            reduce = &PyAllReduce::call;
        }
        PufferEnvHooks hooks = {vec.get(), vec.info_, vec.lib_->reset, vec.lib_->step_buffer,
                                vec.lib_->step_device, vec.lib_->device_buffers};
        {
            nb::gil_scoped_release release;
            t_ = puffer_trainer_create(&cfg, &hooks, dev, reduce, &reduce_,
                                       id.empty() ? nullptr : id.data(), err, sizeof(err));
        }
        if (t_ == nullptr) throw std::runtime_error(err);
    }
    ~NativeTrainer() { close(); }
    void close() {
        if (t_) puffer_trainer_destroy(t_);
        t_ = nullptr;
    }
    PufferTrainer* get() const {
        if (!t_) throw std::runtime_error("the native trainer is closed");
        return t_;
    }

    nb::dict epoch(bool train) {
        PufferTrainer* t = get();
        vec_->get();   // throws if the env was closed under the trainer
        PufferEpochLogs logs;
        char err[1024] = {0};
        int rc;
        reduce_.error.clear();
        {
            nb::gil_scoped_release release;
            rc = puffer_trainer_epoch(t, train ? 1 : 0, &logs, err, sizeof(err));
        }
        if (rc != 0) {
            std::string msg(err);
            if (!reduce_.error.empty()) msg += ": " + reduce_.error;
            throw std::runtime_error(msg);
        }
        nb::dict d;
        if (logs.trained) {
            d["loss/policy"] = logs.policy_loss;
            d["loss/value"] = logs.value_loss;
            d["loss/entropy"] = logs.entropy;
            d["loss/total"] = logs.total_loss;
            d["loss/old_kl"] = logs.old_kl;
            d["loss/kl"] = logs.kl;
            d["loss/clipfrac"] = logs.clipfrac;
            if (logs.explained_variance == logs.explained_variance)  // NaN when Var(returns) = 0
                d["loss/explained_variance"] = logs.explained_variance;
            d["train/grad_norm"] = logs.grad_norm;
            d["train/learning_rate"] = logs.learning_rate;
            d["perf/train"] = logs.train;
        }
        d["perf/rollout"] = logs.rollout;
        d["perf/eval_env"] = logs.eval_env;
        d["perf/eval_gpu"] = logs.eval_gpu;
        return d;
    }

    PufferTrainerInfo info() const {
        PufferTrainerInfo i;
        puffer_trainer_info(get(), &i);
        return i;
    }

    nb::dict weights() {
        PufferTrainer* t = get();
        nb::dict d;
        char err[1024] = {0};
        for (int i = 0; i < info().num_tensors; i++) {
            int64_t shape[2];
            puffer_trainer_tensor_shape(t, i, shape);
            std::vector<float> data((size_t)(shape[0] * shape[1]));
            if (puffer_trainer_get_tensor(t, i, data.data(), err, sizeof(err)) != 0)
                throw std::runtime_error(err);
            d[puffer_trainer_tensor_name(t, i)] =
                owned_array<float>(std::move(data), {(size_t)shape[0], (size_t)shape[1]});
        }
        return d;
    }

    // Every tensor must be present with its exact shape (KeyError / ValueError otherwise).
    void load_weights(nb::dict tensors) {
        PufferTrainer* t = get();
        char err[1024] = {0};
        int n = info().num_tensors;
        for (auto item : tensors) {
            std::string key = nb::cast<std::string>(nb::str(item.first));
            bool known = false;
            for (int i = 0; i < n; i++) known = known || key == puffer_trainer_tensor_name(t, i);
            if (!known) throw nb::key_error(("unexpected tensor '" + key + "'").c_str());
        }
        for (int i = 0; i < n; i++) {
            const char* name = puffer_trainer_tensor_name(t, i);
            if (!tensors.contains(name)) throw nb::key_error((std::string("missing tensor '") + name + "'").c_str());
            FloatArray a = to_float(tensors[name]);
            int64_t shape[2];
            puffer_trainer_tensor_shape(t, i, shape);
            if (a.size() != (size_t)(shape[0] * shape[1]) || a.ndim() != 2 ||
                    a.shape(0) != (size_t)shape[0] || a.shape(1) != (size_t)shape[1])
                throw std::invalid_argument(std::string(name) + ": expected shape (" +
                    std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ")");
            if (puffer_trainer_set_tensor(t, i, a.data(), err, sizeof(err)) != 0)
                throw std::invalid_argument(err);
        }
    }

    nb::object momentum() {
        char err[1024] = {0};
        std::vector<float> data((size_t)info().num_params);
        if (puffer_trainer_get_momentum(get(), data.data(), err, sizeof(err)) != 0)
            throw std::runtime_error(err);
        size_t n = data.size();
        return owned_array<float>(std::move(data), {n});
    }

    void set_momentum(nb::object array) {
        char err[1024] = {0};
        FloatArray a = to_float(array);
        if (a.size() != (size_t)info().num_params)
            throw std::invalid_argument("momentum must have " + std::to_string(info().num_params) + " floats");
        if (puffer_trainer_set_momentum(get(), a.data(), err, sizeof(err)) != 0)
            throw std::runtime_error(err);
    }

    nb::object counters() {
        char err[1024] = {0};
        std::vector<uint64_t> data((size_t)puffer_trainer_num_counters(get()));
        if (puffer_trainer_get_counters(get(), data.data(), err, sizeof(err)) != 0)
            throw std::runtime_error(err);
        size_t n = data.size();
        return owned_array<uint64_t>(std::move(data), {n});
    }

    void set_counters(nb::object array, int64_t global_step, int64_t epoch) {
        char err[1024] = {0};
        U64Array a = nb::cast<U64Array>(nb::module_::import_("numpy").attr("ascontiguousarray")(array, "uint64"));
        if (a.size() != (size_t)puffer_trainer_num_counters(get()))
            throw std::invalid_argument("wrong number of RNG counters");
        if (puffer_trainer_set_counters(get(), a.data(), global_step, epoch, err, sizeof(err)) != 0)
            throw std::runtime_error(err);
    }

    nb::dict rollout() {
        PufferTrainer* t = get();
        static const char* names[PUFFER_ROLLOUT_FIELDS] = {"observations", "actions", "logprobs",
                                                           "values", "rewards", "dones"};
        char err[1024] = {0};
        PufferTrainerInfo i = info();
        nb::dict d;
        for (int f = 0; f < PUFFER_ROLLOUT_FIELDS; f++) {
            int width = puffer_trainer_rollout_width(t, f);
            size_t rows = (size_t)i.agents, horizon = (size_t)i.horizon;
            std::vector<float> data(rows * horizon * (size_t)width);
            if (puffer_trainer_get_rollout(t, f, data.data(), err, sizeof(err)) != 0)
                throw std::runtime_error(err);
            if (width == 1 && f != PUFFER_ROLLOUT_OBS && f != PUFFER_ROLLOUT_ACTIONS)
                d[names[f]] = owned_array<float>(std::move(data), {rows, horizon});
            else
                d[names[f]] = owned_array<float>(std::move(data), {rows, horizon, (size_t)width});
        }
        return d;
    }

  private:
    static FloatArray to_float(nb::handle obj) {
        nb::object arr = nb::module_::import_("numpy").attr("ascontiguousarray")(obj, "float32");
        return nb::cast<FloatArray>(arr);
    }

    PufferTrainer* t_ = nullptr;
    VecEnv* vec_;   // kept alive by keep_alive<1, 2>
    PyAllReduce reduce_;
};

}  // namespace

void bind_trainer(nb::module_& m) {
    m.def("nccl_unique_id", []() {
        char id[128];
        char err[512] = {0};
        if (puffer_nccl_unique_id(id, err, sizeof(err)) != 0) throw std::runtime_error(err);
        return nb::bytes(id, sizeof(id));
    }, "A fresh NCCL unique id (rank 0 makes it and shares it with the other ranks)");
    m.attr("trainer_cuda") = puffer_has_cuda() != 0;
    m.def("cuda_device_count", &puffer_cuda_device_count,
          "GPUs the CUDA trainer can use (0 without the CUDA build or without a GPU)");
    m.def("trainer_config_keys", []() {
        nb::list keys;
        for (const char* const* k = puffer_config_keys(); *k; k++) keys.append(nb::str(*k));
        return keys;
    }, "Keys the native trainer's config accepts");

    nb::class_<NativeTrainer>(m, "NativeTrainer")
        .def(nb::init<VecEnv&, nb::dict, const std::string&, int, int, nb::object, nb::object>(),
             nb::arg("vec"), nb::arg("config"), nb::arg("device") = "cpu", nb::arg("rank") = 0,
             nb::arg("world_size") = 1, nb::arg("nccl_id") = nb::none(),
             nb::arg("allreduce") = nb::none(), nb::keep_alive<1, 2>(),
             "config: {key: number} (see trainer_config_keys()); allreduce(array) replaces a float32 "
             "array by its mean over ranks (CPU data parallel); nccl_id: 128 bytes (CUDA)")
        .def("epoch", &NativeTrainer::epoch, nb::arg("train") = true,
             "One rollout and (train=True) one training pass; returns flat float logs")
        .def("weights", &NativeTrainer::weights, "{name: float32 array} in checkpoint order")
        .def("load_weights", &NativeTrainer::load_weights, nb::arg("tensors"))
        .def("momentum", &NativeTrainer::momentum, "Muon momentum, float32, checkpoint order")
        .def("set_momentum", &NativeTrainer::set_momentum, nb::arg("momentum"))
        .def("counters", &NativeTrainer::counters, "RNG step counters (uint64)")
        .def("set_counters", &NativeTrainer::set_counters, nb::arg("counters"),
             nb::arg("global_step"), nb::arg("epoch"))
        .def("rollout", &NativeTrainer::rollout,
             "The last rollout as float32 arrays (agents, horizon[, width])")
        .def("close", &NativeTrainer::close)
        .def_prop_ro("global_step", [](NativeTrainer& t) { return t.info().global_step; })
        .def_prop_ro("epoch_index", [](NativeTrainer& t) { return t.info().epoch; })
        .def_prop_ro("total_epochs", [](NativeTrainer& t) { return t.info().total_epochs; })
        .def_prop_ro("num_params", [](NativeTrainer& t) { return t.info().num_params; })
        .def_prop_ro("precision_bytes", [](NativeTrainer& t) { return t.info().precision_bytes; })
        .def_prop_ro("cudagraphs", [](NativeTrainer& t) { return t.info().use_graphs != 0; })
        .def_prop_ro("fused_rollout",
                     [](NativeTrainer& t) { return t.info().fused_rollout != 0; });
}
