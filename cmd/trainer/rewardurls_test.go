package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Oracle: the values written by hand. A config.json of a run made before the pool (one address as
// a string) and one made with it (a list) both read back; a file is expanded to the addresses it
// lists, in order, comments and blank lines skipped; a file with a line that is not an address, or
// none, is refused naming the file.
func TestRewardURLs(t *testing.T) {
	var old, now struct {
		U rewardURLs `json:"reward_url"`
	}
	if err := json.Unmarshal([]byte(`{"reward_url": "http://a:1"}`), &old); err != nil || !reflect.DeepEqual(old.U, rewardURLs{"http://a:1"}) {
		t.Errorf("old config: %v, %v", old.U, err)
	}
	js, _ := json.Marshal(struct {
		U rewardURLs `json:"reward_url"`
	}{rewardURLs{"http://a:1", "list.txt"}})
	if err := json.Unmarshal(js, &now); err != nil || !reflect.DeepEqual(now.U, rewardURLs{"http://a:1", "list.txt"}) {
		t.Errorf("round trip of %s: %v, %v", js, now.U, err)
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	os.WriteFile(list, []byte("# services\n http://b:2 \n\nunix:///tmp/c.sock\n"), 0o644)
	got, err := rewardURLs{"http://a:1", list, "http://d:4"}.expand()
	if want := []string{"http://a:1", "http://b:2", "unix:///tmp/c.sock", "http://d:4"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("expand: %v, %v; want %v", got, err, want)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("http://b:2\nb:3\n"), 0o644)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# nothing\n"), 0o644)
	for _, v := range []string{bad, empty, filepath.Join(dir, "missing")} {
		if _, err := (rewardURLs{v}).expand(); err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("expand %s: %v, want an error naming it", v, err)
		}
	}
}
