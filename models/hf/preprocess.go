package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// PreprocessorFile is the name of a model folder's image-processor configuration.
const PreprocessorFile = "preprocessor_config.json"

// PreprocessorConfig is a model folder's preprocessor_config.json, the one reader of that file
// for every family: each family's processor takes from it the fields its transformers class
// reads (Decode), with that class's defaults where the file leaves them out, and checks them
// itself. The first error met (a file that is not JSON, a field of the wrong type, image_mean
// or image_std of the wrong length) is kept and reported by Err.
type PreprocessorConfig struct {
	path string // the file's path ("" when parsed from bytes)
	js   []byte
	err  error
}

// ReadPreprocessorConfig reads dir/preprocessor_config.json. The only error is reading the
// file's (wrapped; errors.Is(err, fs.ErrNotExist) tells a folder without one): what the file
// holds is checked as it is decoded (Err).
func ReadPreprocessorConfig(dir string) (*PreprocessorConfig, error) {
	path := filepath.Join(dir, PreprocessorFile)
	js, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	c := ParsePreprocessorConfig(js)
	c.path = path
	return c, nil
}

// ParsePreprocessorConfig takes the bytes of a preprocessor_config.json. Input that is not JSON
// is the error of the first Decode.
func ParsePreprocessorConfig(js []byte) *PreprocessorConfig {
	return &PreprocessorConfig{js: js}
}

// Path is the file's path, "" for a config parsed from bytes.
func (c *PreprocessorConfig) Path() string { return c.path }

// Err returns the first error met reading the file.
func (c *PreprocessorConfig) Err() error { return c.err }

// Decode sets *dst (dst a pointer) from the field key when the file gives it, and keeps *dst
// (the class's default) when the field is absent or null, as encoding/json decodes the file
// into a struct field of *dst's type tagged key: the same key matching, and the same error for
// a value of the wrong type (kept as Err's, *dst unchanged).
func (c *PreprocessorConfig) Decode(key string, dst any) {
	if c.err != nil {
		return
	}
	v := reflect.ValueOf(dst).Elem()
	field := reflect.StructField{Name: "F", Type: v.Type(), Tag: reflect.StructTag(`json:"` + key + `"`)}
	s := reflect.New(reflect.StructOf([]reflect.StructField{field}))
	s.Elem().Field(0).Set(v)
	if err := json.Unmarshal(c.js, s.Interface()); err != nil {
		c.err = err
		return
	}
	v.Set(s.Elem().Field(0))
}

// Channels reads image_mean or image_std (key): one number for every channel, or three. An
// absent or null field gives def.
func (c *PreprocessorConfig) Channels(key string, def []float32) []float32 {
	var js json.RawMessage
	c.Decode(key, &js)
	if c.err != nil {
		return def
	}
	if len(js) == 0 || string(js) == "null" {
		return def
	}
	var one float64
	if json.Unmarshal(js, &one) == nil {
		v := float32(one)
		return []float32{v, v, v}
	}
	var many []float64
	if err := json.Unmarshal(js, &many); err != nil || len(many) != 3 {
		c.err = fmt.Errorf("%s %s: want a number or three", key, js)
		return def
	}
	return []float32{float32(many[0]), float32(many[1]), float32(many[2])}
}

// ProcessorClass is an image_processor_type without its Fast or Pil suffix: transformers' fast
// and PIL forms of a processor class read the same fields (and get the PIL preprocessing here).
func ProcessorClass(typ string) string {
	return strings.TrimSuffix(strings.TrimSuffix(typ, "Fast"), "Pil")
}
