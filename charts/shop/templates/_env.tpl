{{/* The container's environment: the values' env map, then the Secret. */}}
{{- define "shop.env" -}}
{{- with .Values.env -}}
env:
  {{- range $name, $value := . }}
  - name: {{ $name }}
    value: {{ $value | quote }}
  {{- end }}
{{ end -}}
envFrom:
  - secretRef:
      name: {{ .Values.secretName }}
{{- end }}
