package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
)

// putMultipart uploads blob under key in parts of b.partSize:
//
//  1. CreateMultipartUpload, once (a retry could leave a second upload);
//  2. UploadPart for every part, b.concurrency at a time, each retried
//     (re-sending a part number replaces it with the same bytes);
//  3. CompleteMultipartUpload with If-None-Match: *, once: a 412 means
//     the object exists, and the upload is aborted.
//
// Any failure aborts the upload, even when ctx is done, so that no parts
// linger. Until step 3 succeeds the object does not exist under key: a
// server that dies mid-upload leaves at most an incomplete upload, which
// GET, HEAD and LIST never show and AbortIncomplete removes.
func (b *Backend) putMultipart(ctx context.Context, key string, blob []byte) (bool, error) {
	uploadID, err := b.core.NewMultipartUpload(ctx, b.bucket, key, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return false, b.wrap("put", key, fmt.Errorf("starting a multipart upload: %w", err))
	}
	parts, err := b.uploadParts(ctx, key, uploadID, blob)
	if err == nil {
		_, err = b.core.CompleteMultipartUpload(ctx, b.bucket, key, uploadID, parts, putOptions())
		switch {
		case err == nil:
			return true, nil
		case isExists(err):
			if aerr := b.abort(ctx, key, uploadID); aerr != nil {
				return false, b.wrap("put", key, fmt.Errorf("the object exists, but aborting the redundant upload %s failed: %w", uploadID, aerr))
			}
			return false, nil
		}
		err = fmt.Errorf("completing the multipart upload: %w", err)
	}
	aerr := b.abort(ctx, key, uploadID)
	switch {
	case aerr == nil:
		err = fmt.Errorf("%w; the upload was aborted and no object is stored", err)
	case errors.Is(aerr, errUploadGone) && transient(err):
		// The completion may have succeeded with its answer lost: the
		// upload is gone either way, so the object tells.
		if info, serr := b.core.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{}); serr == nil && info.Size == int64(len(blob)) {
			return true, nil
		}
	default:
		err = fmt.Errorf("%w; the incomplete upload %s could not be aborted (%v): it stores no object, and AbortIncomplete removes it", err, uploadID, cleanError{aerr})
	}
	return false, b.wrap("put", key, err)
}

// errUploadGone is abort's answer for an upload the server no longer has.
var errUploadGone = errors.New("no such upload")

// uploadParts uploads blob's parts and returns them for the completion.
// The first failure cancels the parts still running.
func (b *Backend) uploadParts(ctx context.Context, key, uploadID string, blob []byte) ([]minio.CompletePart, error) {
	n := int((int64(len(blob)) + b.partSize - 1) / b.partSize)
	parts := make([]minio.CompletePart, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(b.concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				chunk := blob[int64(i)*b.partSize : min(int64(i+1)*b.partSize, int64(len(blob)))]
				var etag string
				err := b.retry(ctx, func() error {
					p, err := b.core.PutObjectPart(ctx, b.bucket, key, uploadID, i+1, bytes.NewReader(chunk), int64(len(chunk)), minio.PutObjectPartOptions{})
					etag = p.ETag
					return err
				})
				if err != nil {
					cancel(fmt.Errorf("uploading part %d of %d: %w", i+1, n, err))
					return
				}
				parts[i] = minio.CompletePart{PartNumber: i + 1, ETag: etag}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return parts, nil
}

// abort aborts an upload, with its own deadline so that it runs even when
// ctx is done. A second abort, or one after completion, finds the upload
// gone: errUploadGone.
func (b *Backend) abort(ctx context.Context, key, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	err := b.retry(ctx, func() error {
		return b.core.AbortMultipartUpload(ctx, b.bucket, key, uploadID)
	})
	if err != nil && isNoSuchUpload(err) {
		return errUploadGone
	}
	return err
}

// AbortIncomplete aborts the multipart uploads under the prefix that
// were started more than olderThan ago and returns how many it aborted.
// Uploads a Put could not abort (the server died mid-upload) hold storage
// but no visible object; run this at start-up, or periodically, with
// olderThan well above the longest upload so that none in progress is
// cut. Keys under the prefix that are not addresses are left alone.
func (b *Backend) AbortIncomplete(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	keyMarker, idMarker := "", ""
	aborted := 0
	for {
		var res minio.ListMultipartUploadsResult
		err := b.retry(ctx, func() error {
			var err error
			res, err = b.core.ListMultipartUploads(ctx, b.bucket, b.prefix, keyMarker, idMarker, "", 1000)
			return err
		})
		if err != nil {
			return aborted, b.wrap("list multipart uploads", b.prefix, err)
		}
		for _, u := range res.Uploads {
			if _, ok := b.parseKey(u.Key); !ok || u.Initiated.After(cutoff) {
				continue
			}
			if err := b.abort(ctx, u.Key, u.UploadID); err != nil && !errors.Is(err, errUploadGone) {
				return aborted, b.wrap("abort upload "+u.UploadID+" of", u.Key, err)
			}
			aborted++
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return aborted, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}
