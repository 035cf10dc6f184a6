package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBodyBytes bounds every request body; the contract's bodies are a few fields.
const MaxBodyBytes = 64 << 10

// WriteJSON writes v as the JSON body of a response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// An encoding error here means the client went away; there is nobody to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// Decode reads the JSON body of r into v. An empty body decodes as {} so that
// validation, not the decoder, names the missing fields; it needs no
// Content-Type. A body that is not declared application/json is a 415;
// malformed JSON, a value of the wrong type and an oversized body are 400s,
// all in the contract's shape.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return BadRequest(fmt.Sprintf("Request body is larger than %d bytes", MaxBodyBytes))
	case err != nil:
		return fmt.Errorf("read request body: %w", err)
	}
	if strings.TrimSpace(string(body)) == "" {
		return nil
	}
	if !declaredJSON(r.Header.Get("Content-Type")) {
		return UnsupportedMediaType()
	}
	err = json.Unmarshal(body, v)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return Invalid(typeErr.Field, fmt.Sprintf("%s must be a %s", typeErr.Field, jsonType(typeErr.Type.Kind().String())))
	case errors.As(err, &typeErr):
		return BadRequest("Request body must be a JSON object")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("Request body is not valid JSON")
	default:
		return BadRequest("Request body is not valid JSON: " + err.Error())
	}
}

// declaredJSON reports whether contentType is application/json, with any
// parameters (charset=utf-8). Browsers send a text/plain, form or multipart
// body to another site without asking it first (no CORS preflight), a cookie
// with it when it is a top-level form post; requiring JSON refuses such
// cross-site requests, and a body of no declared type with them.
func declaredJSON(contentType string) bool {
	// On malformed parameters ParseMediaType still returns the type.
	mediaType, _, _ := mime.ParseMediaType(contentType)
	return mediaType == "application/json"
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "float32", "float64", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "number"
	case "slice", "array":
		return "array"
	default:
		return "object"
	}
}

// Validation collects the failing rules of one request body.
type Validation struct {
	problems []Problem
}

// Check records message for field unless ok.
func (v *Validation) Check(ok bool, field, message string) {
	if !ok {
		v.problems = append(v.problems, Problem{Message: message, Field: field})
	}
}

// Err returns a 400 listing every failed rule, or nil.
func (v *Validation) Err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Problems: v.problems}
}
