; Inno Setup script of VQ Studio for Windows (Inno Setup 6). Written and reviewed; NOT built on
; this project's Linux machines.
;
; On Windows, from the checkout, in a venv holding only the runtime dependencies and PyInstaller
; (as packaging/build.py makes on Linux):
;   py -m venv build\venv-bundle
;   build\venv-bundle\Scripts\pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
;   build\venv-bundle\Scripts\pip install .[gui] pyinstaller
;   build\venv-bundle\Scripts\pip uninstall -y vqstudio
;   build\venv-bundle\Scripts\pyinstaller --noconfirm --distpath build\pyinstaller\dist packaging\vqstudio.spec
;   build\venv-bundle\Scripts\python packaging\licenses.py --pyproject pyproject.toml --out build\pyinstaller\dist\vqstudio\licenses
;   iscc /DAppVersion=0.1.0 packaging\windows\vqstudio.iss
; (resources\vqstudio.ico, the icon, is made from resources/vqstudio.svg by any SVG tool; the spec
; uses it when present.)
; The result is dist\vqstudio-<version>-windows-x64-setup.exe: a per-user install by default (no
; administrator rights needed), with a Start-menu entry, an optional desktop icon and an uninstaller.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "VQ Studio"
#define BundleDir "..\..\build\pyinstaller\dist\vqstudio"

[Setup]
AppId={{5D0E3F7A-8C2B-4E7B-9A61-2F4C9B7E1D30}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=VQ Studio developers
DefaultDirName={autopf}\VQ Studio
DefaultGroupName={#AppName}
; per-user install unless the user picks "all users" in the dialog
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=vqstudio-{#AppVersion}-windows-x64-setup
; torch's libraries compress well with LZMA2; solid compression keeps the installer small
Compression=lzma2/max
SolidCompression=yes
LicenseFile=..\..\LICENSE
UninstallDisplayIcon={app}\vqstudio-gui.exe
WizardStyle=modern
DisableProgramGroupPage=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; the whole PyInstaller onedir output: both programs, _internal\ and licenses\
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\vqstudio-gui.exe"
Name: "{group}\{#AppName} self-test"; Filename: "{app}\vqstudio-gui.exe"; Parameters: "--self-test"
Name: "{group}\Third-party licences"; Filename: "{app}\licenses"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\vqstudio-gui.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\vqstudio-gui.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Python writes no caches into the bundle, but remove the folder even if a user added files to it
Type: dirifempty; Name: "{app}"
