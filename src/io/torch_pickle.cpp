// .pt / .pth reader: torch.save's zip archive (data.pkl, data/<key> storages, byteorder), with a
// restricted pickle interpreter. Nothing in the file is executed: GLOBAL resolves only the names
// torch.save emits for tensors and dicts (a fixed table, no import, no lookup by name), REDUCE
// calls only those, and every value lives in an arena owned by the interpreter, so reference
// cycles built through the memo cannot leak or recurse. Tensors are kept as descriptions
// (storage, offset, sizes, strides) and only the selected one is read from the archive.
#include "roundoff/io/torch_pickle.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>

#include "io_detail.hpp"
#include "roundoff/error.hpp"
#include "roundoff/io/npy.hpp"

namespace roundoff::io {

namespace {

using detail::fail;
using detail::printable;

// ---- what torch.save's pickles may name -----------------------------------------------------

enum class elem : std::uint8_t { f16, bf16, f32, f64, other };

struct dtype_kind {
  std::string_view name;   // torch.<name> for dtypes; <name> for storage globals
  std::string_view dtype;  // for messages
  std::size_t bytes;
  elem e;
};

// Legacy typed storages (torch.<X>Storage), what _rebuild_tensor/_v2 tensors reference.
constexpr dtype_kind storage_types[] = {
    {"DoubleStorage", "float64", 8, elem::f64},
    {"FloatStorage", "float32", 4, elem::f32},
    {"HalfStorage", "float16", 2, elem::f16},
    {"BFloat16Storage", "bfloat16", 2, elem::bf16},
    {"LongStorage", "int64", 8, elem::other},
    {"IntStorage", "int32", 4, elem::other},
    {"ShortStorage", "int16", 2, elem::other},
    {"CharStorage", "int8", 1, elem::other},
    {"ByteStorage", "uint8", 1, elem::other},
    {"BoolStorage", "bool", 1, elem::other},
    {"ComplexFloatStorage", "complex64", 8, elem::other},
    {"ComplexDoubleStorage", "complex128", 16, elem::other},
    {"QInt8Storage", "qint8", 1, elem::other},
    {"QUInt8Storage", "quint8", 1, elem::other},
    {"QInt32Storage", "qint32", 4, elem::other},
    {"QUInt4x2Storage", "quint4x2", 1, elem::other},
    {"QUInt2x4Storage", "quint2x4", 1, elem::other},
    {"UntypedStorage", "uint8 (untyped storage)", 1, elem::other},
};

// torch.<dtype> globals (the dtype argument of _rebuild_tensor_v3).
constexpr dtype_kind dtypes[] = {
    {"float64", "float64", 8, elem::f64},
    {"float32", "float32", 4, elem::f32},
    {"float16", "float16", 2, elem::f16},
    {"bfloat16", "bfloat16", 2, elem::bf16},
    {"int64", "int64", 8, elem::other},
    {"int32", "int32", 4, elem::other},
    {"int16", "int16", 2, elem::other},
    {"int8", "int8", 1, elem::other},
    {"uint8", "uint8", 1, elem::other},
    {"uint16", "uint16", 2, elem::other},
    {"uint32", "uint32", 4, elem::other},
    {"uint64", "uint64", 8, elem::other},
    {"bool", "bool", 1, elem::other},
    {"complex32", "complex32", 4, elem::other},
    {"complex64", "complex64", 8, elem::other},
    {"complex128", "complex128", 16, elem::other},
    {"float8_e4m3fn", "float8_e4m3fn", 1, elem::other},
    {"float8_e5m2", "float8_e5m2", 1, elem::other},
    {"float8_e4m3fnuz", "float8_e4m3fnuz", 1, elem::other},
    {"float8_e5m2fnuz", "float8_e5m2fnuz", 1, elem::other},
    {"float8_e8m0fnu", "float8_e8m0fnu", 1, elem::other},
    {"float4_e2m1fn_x2", "float4_e2m1fn_x2", 1, elem::other},
    {"bits8", "bits8", 1, elem::other},
    {"bits16", "bits16", 2, elem::other},
    {"bits1x8", "bits1x8", 1, elem::other},
    {"bits2x4", "bits2x4", 1, elem::other},
    {"bits4x2", "bits4x2", 1, elem::other},
};

enum class callable : std::uint8_t {
  ordered_dict,
  rebuild_tensor,
  rebuild_tensor_v2,
  rebuild_tensor_v3,
  rebuild_parameter,
  rebuild_parameter_with_state,
};

// ---- values ---------------------------------------------------------------------------------

struct object;
using ref = object*;  // owned by the interpreter's arena

struct storage_info {
  const dtype_kind* type;
  std::string key;
  std::uint64_t numel;  // elements of `type`
};

struct tensor_info {
  ref storage;
  const dtype_kind* dtype;
  std::uint64_t offset;  // elements of dtype
  std::vector<std::int64_t> size, stride;
};

struct object {
  enum class kind : std::uint8_t {
    none,
    boolean,
    integer,
    floating,
    string,
    tuple,
    list,
    dict,
    function,
    storage_type,
    dtype,
    storage,
    tensor
  } k;
  explicit object(kind kk) : k(kk) {}
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;                                       // string
  std::vector<ref> items;                              // tuple, list
  std::vector<std::pair<ref, ref>> entries;            // dict, in insertion order
  std::unordered_map<std::string, std::size_t> index;  // dict: canonical key -> entry
  callable fn = callable::ordered_dict;                // function
  const dtype_kind* type = nullptr;                    // storage_type, dtype
  std::unique_ptr<storage_info> st;                    // storage
  std::unique_ptr<tensor_info> t;                      // tensor
};

std::string_view kind_name(object::kind k) {
  switch (k) {
    case object::kind::none:
      return "None";
    case object::kind::boolean:
      return "bool";
    case object::kind::integer:
      return "int";
    case object::kind::floating:
      return "float";
    case object::kind::string:
      return "str";
    case object::kind::tuple:
      return "tuple";
    case object::kind::list:
      return "list";
    case object::kind::dict:
      return "dict";
    case object::kind::function:
      return "function";
    case object::kind::storage_type:
      return "storage type";
    case object::kind::dtype:
      return "dtype";
    case object::kind::storage:
      return "storage";
    case object::kind::tensor:
      return "tensor";
  }
  return "object";
}

// Dict keys compare like Python's for the key types torch.save writes (str, int).
std::optional<std::string> canonical_key(const object& k) {
  std::string out(1, k.k == object::kind::string ? 's' : 'i');
  if (k.k == object::kind::string) return out += k.s;
  if (k.k == object::kind::integer) return out += std::to_string(k.i);
  return std::nullopt;
}

std::string key_text(const object& k) {
  if (k.k == object::kind::string) return k.s;
  if (k.k == object::kind::integer) return std::to_string(k.i);
  std::string out = "<";
  out += kind_name(k.k);
  return out += ">";
}

// ---- the interpreter ------------------------------------------------------------------------

class unpickler {
 public:
  unpickler(std::span<const std::byte> pkl, std::string_view name) : p_(pkl), name_(name) {}

  ref run() {
    while (true) {
      const std::size_t at = pos_;
      const auto op = static_cast<unsigned char>(take(1)[0]);
      switch (op) {
        case 0x80: {  // PROTO
          const auto v = static_cast<unsigned>(take(1)[0]);
          if (v < 2 || v > 5) error(at, "unsupported pickle protocol " + std::to_string(v));
          break;
        }
        case 0x95:  // FRAME: a length hint for buffered reading; nothing to do
          take(8);
          break;
        case '.':  // STOP
          return pop(at);
        case '(':  // MARK
          marks_.push_back(stack_.size());
          break;
        case '0':  // POP
          pop(at);
          break;
        case '1':  // POP_MARK
          pop_mark(at);
          break;
        case '2':  // DUP
          push(top(at));
          break;
        case 'N':
          push(make(object::kind::none));
          break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          ref o = make(object::kind::boolean);
          o->b = op == 0x88;
          push(o);
          break;
        }
        case 'J':  // BININT
          push_int(static_cast<std::int32_t>(le(take(4))));
          break;
        case 'K':  // BININT1
          push_int(static_cast<std::int64_t>(le(take(1))));
          break;
        case 'M':  // BININT2
          push_int(static_cast<std::int64_t>(le(take(2))));
          break;
        case 0x8a:    // LONG1
        case 0x8b: {  // LONG4
          const std::uint64_t n = le(take(op == 0x8a ? 1 : 4));
          if (n > 8) error(at, "integer wider than 64 bits");
          const auto b = take(static_cast<std::size_t>(n));
          std::uint64_t v = le(b);
          if (n > 0 && n < 8 && (static_cast<unsigned>(b[n - 1]) & 0x80))
            v |= ~std::uint64_t{0} << (8 * n);  // sign-extend two's complement
          push_int(static_cast<std::int64_t>(v));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          const auto b = take(8);
          std::uint64_t v = 0;
          for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint64_t>(b[i]);
          ref o = make(object::kind::floating);
          o->f = std::bit_cast<double>(v);
          push(o);
          break;
        }
        case 'X':     // BINUNICODE
        case 0x8c:    // SHORT_BINUNICODE
        case 0x8d: {  // BINUNICODE8
          const std::uint64_t n = le(take(op == 0x8c ? 1 : op == 'X' ? 4 : 8));
          if (n > p_.size() - pos_) error(at, "string runs past the end of the pickle");
          const auto b = take(static_cast<std::size_t>(n));
          ref o = make(object::kind::string);
          o->s.assign(reinterpret_cast<const char*>(b.data()), b.size());
          push(o);
          break;
        }
        case ')':
          push(make(object::kind::tuple));
          break;
        case 't': {
          ref o = make(object::kind::tuple);
          o->items = pop_mark(at);
          push(o);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const std::size_t n = op - 0x84u;
          if (stack_.size() < n + floor()) error(at, "stack underflow");
          ref o = make(object::kind::tuple);
          o->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(o);
          break;
        }
        case ']':
          push(make(object::kind::list));
          break;
        case 'l': {  // LIST
          ref o = make(object::kind::list);
          o->items = pop_mark(at);
          push(o);
          break;
        }
        case 'a': {  // APPEND
          ref v = pop(at);
          ref l = top(at);
          if (l->k != object::kind::list) error(at, "APPEND to a " + std::string(kind_name(l->k)));
          l->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          std::vector<ref> vs = pop_mark(at);
          ref l = top(at);
          if (l->k != object::kind::list) error(at, "APPENDS to a " + std::string(kind_name(l->k)));
          l->items.insert(l->items.end(), vs.begin(), vs.end());
          break;
        }
        case '}':
          push(make(object::kind::dict));
          break;
        case 'd': {  // DICT
          std::vector<ref> kv = pop_mark(at);
          if (kv.size() % 2) error(at, "DICT with an odd number of items");
          ref d = make(object::kind::dict);
          for (std::size_t i = 0; i < kv.size(); i += 2) set_item(d, kv[i], kv[i + 1]);
          push(d);
          break;
        }
        case 's': {  // SETITEM
          ref v = pop(at);
          ref k = pop(at);
          ref d = top(at);
          if (d->k != object::kind::dict) error(at, "SETITEM on a " + std::string(kind_name(d->k)));
          set_item(d, k, v);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<ref> kv = pop_mark(at);
          ref d = top(at);
          if (d->k != object::kind::dict)
            error(at, "SETITEMS on a " + std::string(kind_name(d->k)));
          if (kv.size() % 2) error(at, "SETITEMS with an odd number of items");
          for (std::size_t i = 0; i < kv.size(); i += 2) set_item(d, kv[i], kv[i + 1]);
          break;
        }
        case 'q':  // BINPUT
          memo_[static_cast<std::uint32_t>(le(take(1)))] = top(at);
          break;
        case 'r':  // LONG_BINPUT
          memo_[static_cast<std::uint32_t>(le(take(4)))] = top(at);
          break;
        case 0x94:  // MEMOIZE
          memo_[static_cast<std::uint32_t>(memo_.size())] = top(at);
          break;
        case 'h':    // BINGET
        case 'j': {  // LONG_BINGET
          const auto idx = static_cast<std::uint32_t>(le(take(op == 'h' ? 1 : 4)));
          const auto it = memo_.find(idx);
          if (it == memo_.end()) error(at, "memo entry " + std::to_string(idx) + " is not set");
          push(it->second);
          break;
        }
        case 'c': {  // GLOBAL
          const std::string module = line(at);
          const std::string attr = line(at);
          push(global(module, attr));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          ref attr = pop(at);
          ref module = pop(at);
          if (module->k != object::kind::string || attr->k != object::kind::string)
            error(at, "STACK_GLOBAL needs two strings");
          push(global(module->s, attr->s));
          break;
        }
        case 'Q':  // BINPERSID
          push(persistent_load(pop(at), at));
          break;
        case 'R': {  // REDUCE
          ref args = pop(at);
          ref fn = pop(at);
          push(reduce(fn, args, at));
          break;
        }
        case 'b': {  // BUILD: only OrderedDict attributes (a state_dict's _metadata), ignored
          ref state = pop(at);
          ref target = top(at);
          if (target->k != object::kind::dict ||
              (state->k != object::kind::dict && state->k != object::kind::none))
            error(at, "refusing BUILD on a " + std::string(kind_name(target->k)) +
                          " (only tensors and dicts of tensors are read)");
          break;
        }
        default: {
          static constexpr char hex[] = "0123456789abcdef";
          error(at, std::string("unsupported pickle opcode 0x") + hex[op >> 4] + hex[op & 15] +
                        " (only what torch.save writes for tensors and dicts of tensors is read)");
        }
      }
    }
  }

  // Storages by key, for reading their bytes.
  const std::unordered_map<std::string, ref>& storages() const { return storages_; }

 private:
  [[noreturn]] void error(std::size_t at, const std::string& what) const {
    fail(name_, what + " (data.pkl offset " + std::to_string(at) + ")");
  }

  std::span<const std::byte> take(std::size_t n) {
    if (n > p_.size() - pos_) fail(name_, "truncated pickle (data.pkl ends inside an opcode)");
    const auto out = p_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  static std::uint64_t le(std::span<const std::byte> b) {
    std::uint64_t v = 0;
    for (std::size_t i = b.size(); i-- > 0;) v = (v << 8) | static_cast<std::uint64_t>(b[i]);
    return v;
  }
  std::string line(std::size_t at) {
    std::string out;
    while (true) {
      const char c = static_cast<char>(take(1)[0]);
      if (c == '\n') return out;
      if (out.size() >= 256) error(at, "GLOBAL name too long");
      out += c;
    }
  }

  ref make(object::kind k) {
    arena_.push_back(std::make_unique<object>(k));
    return arena_.back().get();
  }
  void push(ref o) { stack_.push_back(o); }
  void push_int(std::int64_t v) {
    ref o = make(object::kind::integer);
    o->i = v;
    push(o);
  }
  // Items below the innermost mark belong to the enclosing frame.
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  ref pop(std::size_t at) {
    if (stack_.size() <= floor()) error(at, "stack underflow");
    ref o = stack_.back();
    stack_.pop_back();
    return o;
  }
  ref top(std::size_t at) {
    if (stack_.size() <= floor()) error(at, "stack underflow");
    return stack_.back();
  }
  std::vector<ref> pop_mark(std::size_t at) {
    if (marks_.empty()) error(at, "no MARK on the stack");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ref> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }

  void set_item(ref d, ref k, ref v) {
    if (const auto ck = canonical_key(*k)) {
      const auto [it, fresh] = d->index.emplace(*ck, d->entries.size());
      if (!fresh) {
        d->entries[it->second].second = v;
        return;
      }
    }
    d->entries.emplace_back(k, v);
  }

  // The fixed table of names. Nothing else is ever resolved.
  ref global(const std::string& module, const std::string& attr) {
    ref o = make(object::kind::function);
    if (module == "collections" && attr == "OrderedDict") {
      o->fn = callable::ordered_dict;
      return o;
    }
    if (module == "torch._utils") {
      static constexpr std::pair<std::string_view, callable> fns[] = {
          {"_rebuild_tensor", callable::rebuild_tensor},
          {"_rebuild_tensor_v2", callable::rebuild_tensor_v2},
          {"_rebuild_tensor_v3", callable::rebuild_tensor_v3},
          {"_rebuild_parameter", callable::rebuild_parameter},
          {"_rebuild_parameter_with_state", callable::rebuild_parameter_with_state},
      };
      for (const auto& [n, f] : fns)
        if (attr == n) {
          o->fn = f;
          return o;
        }
    }
    if (module == "torch") {
      for (const auto& s : storage_types)
        if (attr == s.name) {
          o->k = object::kind::storage_type;
          o->type = &s;
          return o;
        }
      for (const auto& d : dtypes)
        if (attr == d.name) {
          o->k = object::kind::dtype;
          o->type = &d;
          return o;
        }
    }
    fail(name_, "refusing pickle global '" + printable(module + "." + attr) +
                    "' (only tensors and dicts of tensors are read)");
  }

  // ('storage', torch.<T>Storage, key, location, numel)
  ref persistent_load(ref pid, std::size_t at) {
    const auto& it = pid->items;
    if (pid->k != object::kind::tuple || it.size() != 5 || it[0]->k != object::kind::string ||
        it[0]->s != "storage" || it[1]->k != object::kind::storage_type ||
        it[2]->k != object::kind::string || it[3]->k != object::kind::string ||
        it[4]->k != object::kind::integer || it[4]->i < 0)
      error(at, "unsupported persistent id (expected ('storage', type, key, location, numel))");
    const dtype_kind* type = it[1]->type;
    const std::string& key = it[2]->s;
    const auto numel = static_cast<std::uint64_t>(it[4]->i);
    if (const auto found = storages_.find(key); found != storages_.end()) {
      const storage_info& s = *found->second->st;
      if (s.type != type || s.numel != numel)
        error(at, "storage '" + printable(key) + "' declared twice with different types or sizes");
      return found->second;
    }
    ref o = make(object::kind::storage);
    o->st = std::make_unique<storage_info>(storage_info{type, key, numel});
    storages_.emplace(key, o);
    return o;
  }

  std::vector<std::int64_t> int_tuple(ref o, std::string_view what, std::size_t at) {
    if (o->k != object::kind::tuple) error(at, std::string(what) + " is not a tuple");
    if (o->items.size() > 64) error(at, std::string(what) + " has more than 64 dimensions");
    std::vector<std::int64_t> out;
    for (ref x : o->items) {
      if (x->k != object::kind::integer || x->i < 0)
        error(at, std::string(what) + " is not a tuple of non-negative integers");
      out.push_back(x->i);
    }
    return out;
  }

  ref reduce(ref fn, ref args, std::size_t at) {
    if (fn->k != object::kind::function)
      error(at, "cannot call a " + std::string(kind_name(fn->k)));
    if (args->k != object::kind::tuple) error(at, "REDUCE arguments are not a tuple");
    const auto& a = args->items;
    auto want = [&](bool ok, std::string_view what) {
      if (!ok) error(at, "unexpected arguments to " + std::string(what));
    };
    switch (fn->fn) {
      case callable::ordered_dict:
        want(a.empty(), "collections.OrderedDict");
        return make(object::kind::dict);
      case callable::rebuild_tensor:
      case callable::rebuild_tensor_v2:
      case callable::rebuild_tensor_v3: {
        const std::string_view what = fn->fn == callable::rebuild_tensor ? "_rebuild_tensor"
                                      : fn->fn == callable::rebuild_tensor_v2
                                          ? "_rebuild_tensor_v2"
                                          : "_rebuild_tensor_v3";
        const std::size_t min_args = fn->fn == callable::rebuild_tensor      ? 4
                                     : fn->fn == callable::rebuild_tensor_v2 ? 6
                                                                             : 7;
        const std::size_t max_args = fn->fn == callable::rebuild_tensor ? 4 : min_args + 1;
        want(a.size() >= min_args && a.size() <= max_args, what);
        want(a[0]->k == object::kind::storage && a[1]->k == object::kind::integer && a[1]->i >= 0,
             what);
        if (fn->fn != callable::rebuild_tensor) want(a[4]->k == object::kind::boolean, what);
        if (fn->fn == callable::rebuild_tensor_v3) want(a[6]->k == object::kind::dtype, what);
        ref t = make(object::kind::tensor);
        t->t = std::make_unique<tensor_info>();
        t->t->storage = a[0];
        t->t->dtype = fn->fn == callable::rebuild_tensor_v3 ? a[6]->type : a[0]->st->type;
        t->t->offset = static_cast<std::uint64_t>(a[1]->i);
        t->t->size = int_tuple(a[2], "tensor size", at);
        t->t->stride = int_tuple(a[3], "tensor stride", at);
        if (t->t->size.size() != t->t->stride.size())
          error(at, "tensor size and stride have different lengths");
        return t;
      }
      case callable::rebuild_parameter:
      case callable::rebuild_parameter_with_state:
        want(a.size() == (fn->fn == callable::rebuild_parameter ? 3u : 4u) &&
                 a[0]->k == object::kind::tensor && a[1]->k == object::kind::boolean,
             "_rebuild_parameter");
        return a[0];
    }
    error(at, "cannot call this function");
  }

  std::span<const std::byte> p_;
  std::string_view name_;
  std::size_t pos_ = 0;
  std::vector<std::unique_ptr<object>> arena_;
  std::vector<ref> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint32_t, ref> memo_;
  std::unordered_map<std::string, ref> storages_;
};

// ---- the archive ----------------------------------------------------------------------------

struct loaded {
  std::unique_ptr<detail::zip_archive> za;
  std::string prefix;  // "<archive name>/"
  bool big_endian = false;
  std::unique_ptr<unpickler> up;
  ref root = nullptr;
};

void load(loaded& L, std::span<const std::byte> bytes, std::string_view name) {
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x80)
    fail(name,
         "legacy torch.save format (before PyTorch 1.6, or _use_new_zipfile_serialization=False)"
         " is not read; re-save it with a current torch.save");
  L.za = std::make_unique<detail::zip_archive>(bytes, name, ".pt (torch.save)");
  detail::zip_archive& za = *L.za;
  std::optional<std::size_t> pkl;
  for (std::size_t i = 0; i < za.names().size(); ++i) {
    const std::string& e = za.names()[i];
    const auto slash = e.find('/');
    if (slash == std::string::npos || e.substr(slash + 1) != "data.pkl") continue;
    if (pkl) fail(name, "corrupt torch.save archive (several data.pkl records)");
    pkl = i;
    L.prefix = e.substr(0, slash + 1);
  }
  if (!pkl) fail(name, "not a torch.save archive (no data.pkl record)");
  if (za.find(L.prefix + "constants.pkl"))
    fail(name, "is a TorchScript archive (torch.jit.save), not tensors; save them with torch.save");
  if (const auto bo = za.find(L.prefix + "byteorder")) {
    const auto b = za.read_all(*bo, std::nullopt, 16, name);
    const std::string_view s(reinterpret_cast<const char*>(b.data()), b.size());
    if (s == "big") {
      L.big_endian = true;
    } else if (s != "little") {
      fail(name, "corrupt torch.save archive (byteorder record is neither 'little' nor 'big')");
    }
  }
  const std::vector<std::byte> pk = za.read_all(*pkl, std::nullopt, pt_max_pickle_bytes, name);
  L.up = std::make_unique<unpickler>(std::span<const std::byte>(pk), name);
  L.root = L.up->run();
}

double decode(const std::byte* p, elem e, bool big) {
  const std::size_t w = e == elem::f64 ? 8 : e == elem::f32 ? 4 : 2;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < w; ++i) {
    const std::size_t j = big ? i : w - 1 - i;
    v = (v << 8) | static_cast<std::uint64_t>(p[j]);
  }
  switch (e) {
    case elem::f16:
      return f16_bits_to_double(static_cast<std::uint16_t>(v));
    case elem::bf16:
      return bf16_bits_to_double(static_cast<std::uint16_t>(v));
    case elem::f32:
      return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(v)));
    default:
      return std::bit_cast<double>(v);
  }
}

format_id format_of(elem e) {
  return e == elem::f16    ? format_id::f16
         : e == elem::bf16 ? format_id::bf16
         : e == elem::f32  ? format_id::f32
                           : format_id::f64;
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

tensor materialize(loaded& L, const tensor_info& ti, const std::string& who) {
  const storage_info& st = *ti.storage->st;
  const dtype_kind& dt = *ti.dtype;
  if (dt.e == elem::other)
    fail(who, "unsupported dtype " + std::string(dt.dtype) +
                  "; roundoff reads float16, bfloat16, float32 and float64 tensors");
  std::uint64_t storage_bytes = 0;
  if (__builtin_mul_overflow(st.numel, static_cast<std::uint64_t>(st.type->bytes), &storage_bytes))
    fail(who, "corrupt pickle: storage size overflows");
  const std::uint64_t storage_elems = storage_bytes / dt.bytes;
  std::uint64_t numel = 1, last = ti.offset;
  for (std::size_t d = 0; d < ti.size.size(); ++d) {
    const auto n = static_cast<std::uint64_t>(ti.size[d]);
    if (__builtin_mul_overflow(numel, n, &numel))
      fail(who, "tensor size " + shape_text(ti.size) + " overflows");
  }
  tensor t;
  t.shape = ti.size;
  t.type = format_of(dt.e);
  if (numel == 0) return t;
  for (std::size_t d = 0; d < ti.size.size(); ++d) {
    std::uint64_t step = 0;
    if (__builtin_mul_overflow(static_cast<std::uint64_t>(ti.size[d] - 1),
                               static_cast<std::uint64_t>(ti.stride[d]), &step) ||
        __builtin_add_overflow(last, step, &last))
      fail(who, "tensor view " + shape_text(ti.size) + " strides " + shape_text(ti.stride) +
                    " overflows");
  }
  if (last >= storage_elems)
    fail(who, "tensor view (offset " + std::to_string(ti.offset) + ", size " + shape_text(ti.size) +
                  ", stride " + shape_text(ti.stride) + ") reaches element " +
                  std::to_string(last) + " of a storage of " + std::to_string(storage_elems));
  // Elements are allocated only up to the storage's size, which the archive's bytes back.
  if (numel > storage_elems)
    fail(who, "tensor view has " + std::to_string(numel) + " elements but its storage only " +
                  std::to_string(storage_elems) +
                  " (expanded or overlapping views are not read; save t.contiguous())");
  const std::string entry = L.prefix + "data/" + st.key;
  const auto idx = L.za->find(entry);
  if (!idx)
    fail(who, "corrupt torch.save archive (storage record '" + printable(entry) + "' missing)");
  const std::vector<std::byte> raw = L.za->read_all(*idx, storage_bytes, storage_bytes, who);

  t.data.resize(static_cast<std::size_t>(numel));
  const std::size_t rank = ti.size.size();
  std::vector<std::uint64_t> idxs(rank, 0);
  std::uint64_t src = ti.offset;
  for (std::size_t i = 0; i < t.data.size(); ++i) {
    t.data[i] = decode(raw.data() + src * dt.bytes, dt.e, L.big_endian);
    for (std::size_t d = rank; d-- > 0;) {
      const auto stride = static_cast<std::uint64_t>(ti.stride[d]);
      src += stride;
      if (++idxs[d] < static_cast<std::uint64_t>(ti.size[d])) break;
      src -= stride * idxs[d];
      idxs[d] = 0;
    }
  }
  return t;
}

std::vector<std::string> keys_of(const object& d) {
  std::vector<std::string> out;
  for (const auto& [k, v] : d.entries) out.push_back(key_text(*k));
  return out;
}

std::string str_key(std::string_view key) {
  std::string out = "s";
  return out += key;
}

// Entry `key` of dict d; when no entry is named `key`, "a/b" descends into the dict stored
// under the longest prefix "a" that names one (one path, no backtracking: linear in the key).
ref lookup(const object& d, std::string_view key) {
  if (const auto it = d.index.find(str_key(key)); it != d.index.end())
    return d.entries[it->second].second;
  for (std::size_t slash = key.rfind('/'); slash != std::string_view::npos && slash > 0;
       slash = key.rfind('/', slash - 1)) {
    const auto it = d.index.find(str_key(key.substr(0, slash)));
    if (it == d.index.end()) continue;
    const ref sub = d.entries[it->second].second;
    if (sub->k != object::kind::dict) continue;
    return lookup(*sub, key.substr(slash + 1));
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> pt_keys(std::span<const std::byte> bytes, std::string_view name) {
  loaded L;
  load(L, bytes, name);
  if (L.root->k == object::kind::dict) return keys_of(*L.root);
  return {};
}

tensor parse_pt(std::span<const std::byte> bytes, std::string_view name, std::string_view key) {
  loaded L;
  load(L, bytes, name);
  const object& root = *L.root;
  if (key.empty()) {
    if (root.k == object::kind::tensor) return materialize(L, *root.t, std::string(name));
    if (root.k != object::kind::dict)
      fail(name,
           "holds a " + std::string(kind_name(root.k)) + ", not a tensor or a dict of tensors");
    const object* only = nullptr;
    std::string only_key;
    std::size_t count = 0;
    for (const auto& [k, v] : root.entries)
      if (v->k == object::kind::tensor) {
        ++count;
        only = v;
        only_key = key_text(*k);
      }
    if (count != 1)
      fail(name, "holds a dict of " + std::to_string(root.entries.size()) + " entries (" +
                     detail::name_list(keys_of(root)) + "); name one as " + std::string(name) +
                     ":KEY");
    return materialize(L, *only->t, std::string(name) + ":" + printable(only_key));
  }
  const std::string who = std::string(name) + ":" + printable(key);
  if (root.k != object::kind::dict)
    fail(who, "the file holds a " + std::string(kind_name(root.k)) + ", not a dict; name no key");
  const ref v = lookup(root, key);
  if (!v)
    fail(who,
         "no key '" + printable(key) + "' in the saved dict (it holds " +
             (root.entries.empty() ? std::string("nothing") : detail::name_list(keys_of(root))) +
             ")");
  if (v->k != object::kind::tensor)
    fail(who, "entry is a " + std::string(kind_name(v->k)) + ", not a tensor");
  return materialize(L, *v->t, who);
}

tensor read_pt(const std::filesystem::path& file, std::string_view key) {
  const std::string name = file.string();
  const detail::file_bytes f(file, name);
  return parse_pt(f.bytes(), name, key);
}

}  // namespace roundoff::io
