// Upload with progress (XHR), then go to the file's receipt page. Without JavaScript the form posts normally.
(function () {
  var form = document.getElementById("upload-form");
  if (!form) return;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("file");
    var max = parseInt(form.getAttribute("data-max-bytes"), 10); // not form.dataset: the input named "dataset" shadows it
    var text = document.getElementById("progress-text");
    if (input.files.length && input.files[0].size > max) {
      text.textContent = "文件过大：该数据集单个文件上限为 " + Math.round(max / 1048576) + " MB。";
      return;
    }
    var bar = document.getElementById("progress");
    bar.hidden = false;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round((100 * e.loaded) / e.total);
        text.textContent = "已上传 " + bar.value + "%";
      }
    };
    xhr.onload = function () {
      if (xhr.status === 200) {
        window.location = JSON.parse(xhr.responseText).receipt_url;
      } else {
        document.open(); document.write(xhr.responseText); document.close();
      }
    };
    xhr.onerror = function () { text.textContent = "上传失败：网络中断，请重试。"; };
    xhr.send(new FormData(form));
  });
})();
