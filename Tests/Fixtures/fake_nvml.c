/*
 * A stand-in for NVIDIA's libnvidia-ml.so.1 with NVML's symbol names, signatures and struct
 * layouts (nvml.h), for testing guardianflow's dlopen binding on machines without a GPU.
 * The tests compile it with `cc -shared -fPIC`; -D switches pick the behaviour:
 *   FAKE_INIT_ERROR=n      nvmlInit_v2 returns n (9 = NVML_ERROR_DRIVER_NOT_LOADED)
 *   FAKE_DEVICES=n         how many GPUs (default 2)
 *   FAKE_NO_POWER          power queries return NVML_ERROR_NOT_SUPPORTED (3)
 *   FAKE_OMIT_UUID         leave out nvmlDeviceGetUUID (a driver too old)
 * fake_nvml_set_process(pid, bytes) adds a compute process on GPU 0; fake_nvml_calls() counts calls.
 */
#include <stdio.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct fake_device { unsigned int index; } *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

#ifndef FAKE_DEVICES
#define FAKE_DEVICES 2
#endif

static struct fake_device devices[8];
static int initialised = 0;
static unsigned int process_pids[64];
static unsigned long long process_bytes[64];
static unsigned int process_count = 0;
static unsigned long long calls = 0;

void fake_nvml_set_process(unsigned int pid, unsigned long long bytes) {
    if (process_count < 64) {
        process_pids[process_count] = pid;
        process_bytes[process_count] = bytes;
        process_count++;
    }
}

unsigned long long fake_nvml_calls(void) { return calls; }

nvmlReturn_t nvmlInit_v2(void) {
#ifdef FAKE_INIT_ERROR
    return FAKE_INIT_ERROR;
#else
    for (unsigned int i = 0; i < 8; i++) devices[i].index = i;
    initialised = 1;
    return 0;
#endif
}

nvmlReturn_t nvmlShutdown(void) {
    initialised = 0;
    return 0;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    calls++;
    if (!initialised) return 1;
    *count = FAKE_DEVICES;
    return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    calls++;
    if (!initialised) return 1;
    if (index >= FAKE_DEVICES) return 2;
    *device = &devices[index];
    return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
    calls++;
    if (!initialised) return 1;
    for (unsigned int i = 0; i < FAKE_DEVICES; i++) {
        char expected[96];
        snprintf(expected, sizeof expected, "GPU-fake-%04u", i);
        if (strcmp(uuid, expected) == 0) {
            *device = &devices[i];
            return 0;
        }
    }
    return 6;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    calls++;
    snprintf(name, length, "Fake GPU %u", device->index);
    return 0;
}

#ifndef FAKE_OMIT_UUID
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    calls++;
    snprintf(uuid, length, "GPU-fake-%04u", device->index);
    return 0;
}
#endif

/* GPU i: 80 GB, (i+1) GB used plus 100 MB per memory query so far; utilization 40 + 10 i. */
static unsigned long long memory_queries = 0;

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    calls++;
    memory->total = 80000000000ULL;
    memory->used = 1000000000ULL * (device->index + 1) + 100000000ULL * memory_queries++;
    memory->free = memory->total - memory->used;
    return 0;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    calls++;
    utilization->gpu = 40 + 10 * device->index;
    utilization->memory = 20;
    return 0;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *milliwatts) {
    calls++;
#ifdef FAKE_NO_POWER
    return 3;
#else
    *milliwatts = 350000 + 1000 * device->index;
    return 0;
#endif
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *milliwatts) {
    calls++;
#ifdef FAKE_NO_POWER
    return 3;
#else
    *milliwatts = 700000;
    return 0;
#endif
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *celsius) {
    calls++;
    if (sensor != 0) return 2;
    *celsius = 55 + device->index;
    return 0;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count, nvmlProcessInfo_t *infos) {
    calls++;
    unsigned int n = device->index == 0 ? process_count : 0;
    if (*count < n) {
        *count = n;
        return 7;
    }
    for (unsigned int i = 0; i < n; i++) {
        infos[i].pid = process_pids[i];
        infos[i].usedGpuMemory = process_bytes[i];
        infos[i].gpuInstanceId = 0xFFFFFFFF;
        infos[i].computeInstanceId = 0xFFFFFFFF;
    }
    *count = n;
    return 0;
}
